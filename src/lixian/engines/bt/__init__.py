"""The BitTorrent engine: libtorrent behind an adapter thread.

- ``session``: the one libtorrent session per process (the only module importing libtorrent)
- ``torrent``: .torrent and magnet parsing, names made safe
- ``download``: :class:`~lixian.engines.bt.download.BtDownload`, one torrent as a task
- ``trackers``: the "best trackers" list, cached and merged
"""
