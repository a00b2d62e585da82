import CSQLiteWALCoalescing
import TollgateCore

/// SQLite writes each page of a commit to the write-ahead log with two system calls (the frame header, then the page);
/// a paid request commits about thirty pages, and those small writes were most of the writer thread's kernel time. The
/// process's default SQLite VFS becomes one that keeps a transaction's contiguous WAL writes in a buffer and writes them
/// in one call when the commit frame is complete, before SQLite publishes the commit: readers on other connections or
/// processes, and the WAL after a crash, see every committed frame as before. Other files and other operations pass
/// through unchanged (`Sources/CSQLiteWALCoalescing`, whose header comment says when the buffer is written).
public enum WALCoalescing {
    /// Installs the VFS as SQLite's default, once per process; later calls do nothing. Every store opens through it.
    public static func install() throws {
        let code = tollgate_wal_coalescing_install()
        guard code == 0 else {
            throw TollgateError(.storeUnavailable, "the WAL-coalescing SQLite VFS could not be registered (SQLite error \(code))")
        }
    }

    /// Whether the VFS is SQLite's default in this process.
    public static var isInstalled: Bool { tollgate_wal_coalescing_installed() != 0 }

    /// Whether SQLite's page cache is the one that keeps a B-tree split's temporary page number away from the default
    /// cache (`Sources/CSQLiteWALCoalescing/PageCache.c`): without it, every commit after a split that reorders its
    /// pages walked the whole cache. Installed when the binary is loaded (with SQLite's allocation statistics off), in
    /// effect once SQLite initialized with it.
    public static var pageCacheIsWrapped: Bool { tollgate_page_cache_wrapped() != 0 }

    /// Split swaps whose temporary page number the page cache replaced, and rekeys that still gave the default cache that
    /// number (none unless a database nears a gigabyte), since the process started.
    public static var pageCacheSwaps: (substituted: UInt64, passedOn: UInt64) {
        (tollgate_page_cache_substitutions(), tollgate_page_cache_temporary_keys_passed())
    }

    /// WAL writes SQLite asked for, and writes passed on to the file system, since the process started.
    public static var writes: (requested: UInt64, issued: UInt64) {
        let counts = tollgate_wal_coalescing_counters()
        return (counts.requested, counts.issued)
    }
}
