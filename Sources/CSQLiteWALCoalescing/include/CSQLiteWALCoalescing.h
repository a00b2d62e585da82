#ifndef TOLLGATE_SQLITE_WAL_COALESCING_H
#define TOLLGATE_SQLITE_WAL_COALESCING_H

#include <stdint.h>

/// Makes SQLite's default VFS one that writes each transaction's WAL frames in one write instead of two per page.
/// Idempotent and thread-safe; returns SQLITE_OK (0), or SQLite's error when registering failed (then nothing changed).
int tollgate_wal_coalescing_install(void);

/// Whether the coalescing VFS is the process's default.
int tollgate_wal_coalescing_installed(void);

/// Writes to WAL files asked of the VFS by SQLite, and writes it passed on to the file system, since the process started.
typedef struct {
    uint64_t requested;
    uint64_t issued;
} tollgate_wal_coalescing_counts;

tollgate_wal_coalescing_counts tollgate_wal_coalescing_counters(void);

/// Whether SQLite's page cache is the one that keeps a B-tree split's temporary page number out of the default cache
/// (PageCache.c): installed when the binary was loaded, and SQLite initialized with it; 0 otherwise.
int tollgate_page_cache_wrapped(void);

/// Split swaps whose temporary page number the page cache replaced, since the process started.
uint64_t tollgate_page_cache_substitutions(void);

/// Rekeys that gave the default cache the temporary page number itself (none unless a database nears 1 GiB / page size
/// pages in one cache), since the process started.
uint64_t tollgate_page_cache_temporary_keys_passed(void);

#endif
