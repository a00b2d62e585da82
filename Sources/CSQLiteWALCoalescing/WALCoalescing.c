// A SQLite VFS over the default one that writes a transaction's WAL frames in one write.
//
// SQLite appends each page of a commit to the write-ahead log with two writes: the 24-byte frame header, then the page.
// A paid request's commit is tens of pages, so most of the kernel time of the writer thread went to those small writes.
// This VFS keeps the contiguous writes of one transaction in a buffer and passes them on in one write (64 KiB at most
// per call) when the commit frame is complete, before SQLite publishes the commit in the WAL index: a reader on any
// connection or process, and a crash of the process after the commit returned, find every frame on file, as before.
// It also passes them on before any other operation on the WAL file (read, sync, size, truncate, close) and when a write
// is not contiguous. A write below what was already written (a frame or a checksum rewritten in place, which comes with
// no page after it to complete a commit) goes straight to the file, and so does every write to the WAL of a database
// opened without power-safe overwrites (`psow=0`, or a build whose default is off, or SQLITE_FCNTL_POWERSAFE_OVERWRITE
// turned off on any file of the process): wal.c then pads a commit to a sector boundary and syncs in the middle of a
// frame, and the rest of that frame would wait. Files other than WALs are not touched.
//
// A failed write of the buffer fails the transaction: the error is returned by the write or the sync that found it,
// and by every later write beyond the hole, until SQLite writes again from before the hole (the next transaction
// starts at its last commit) or truncates the file there. So a commit is never published over frames not written.

#include "CSQLiteWALCoalescing.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum {
    bufferCapacity = 512 * 1024,
    // SQLite's unix VFS writes at most 128 KiB per system call (it masks larger counts); smaller chunks stay exact.
    chunkLimit = 64 * 1024,
    frameHeaderSize = 24,
};

typedef struct CoalescingFile {
    sqlite3_file base;
    sqlite3_file *real;
    int isWAL;
    unsigned char *buffer;
    int length;
    sqlite3_int64 start;
    // The last write was the header of a commit frame: the next one completes the commit.
    int commitPending;
    // SQLITE_OK, or the error of a failed flush; frames from `failedFrom` on are not on file.
    int failure;
    sqlite3_int64 failedFrom;
    // The end of what was written since the log last started again at its header (offset 0): a write below it rewrites.
    sqlite3_int64 written;
} CoalescingFile;

static sqlite3_vfs *underlying;
static sqlite3_vfs coalescing;
static pthread_once_t installOnce = PTHREAD_ONCE_INIT;
static int installResult = SQLITE_OK;
static _Atomic uint64_t requestedWrites;
// SQLite's compiled default for power-safe overwrites, and whether any file of the process had them turned off.
static int powersafeDefault = 1;
static _Atomic int powersafeTurnedOff;
static _Atomic uint64_t issuedWrites;

static sqlite3_file *realFile(sqlite3_file *file) { return ((CoalescingFile *)file)->real; }

static int flush(CoalescingFile *file) {
    int rc = SQLITE_OK;
    for (int done = 0; done < file->length; ) {
        int count = file->length - done < chunkLimit ? file->length - done : chunkLimit;
        atomic_fetch_add_explicit(&issuedWrites, 1, memory_order_relaxed);
        rc = file->real->pMethods->xWrite(file->real, file->buffer + done, count, file->start + done);
        if (rc != SQLITE_OK) {
            file->failure = rc;
            file->failedFrom = file->start + done;
            break;
        }
        done += count;
    }
    file->length = 0;
    return rc;
}

static int coalescingClose(sqlite3_file *file) {
    CoalescingFile *self = (CoalescingFile *)file;
    int rc = flush(self);
    int closed = self->real->pMethods->xClose(self->real);
    free(self->buffer);
    self->buffer = NULL;
    return rc != SQLITE_OK ? rc : closed;
}

static int coalescingRead(sqlite3_file *file, void *data, int count, sqlite3_int64 offset) {
    CoalescingFile *self = (CoalescingFile *)file;
    int rc = flush(self);
    if (rc != SQLITE_OK) return rc;
    if (self->failure != SQLITE_OK && offset + count > self->failedFrom) return self->failure;
    return self->real->pMethods->xRead(self->real, data, count, offset);
}

static int coalescingWrite(sqlite3_file *file, const void *data, int count, sqlite3_int64 offset) {
    CoalescingFile *self = (CoalescingFile *)file;
    if (!self->isWAL) return self->real->pMethods->xWrite(self->real, data, count, offset);
    atomic_fetch_add_explicit(&requestedWrites, 1, memory_order_relaxed);
    if (self->failure != SQLITE_OK) {
        if (offset > self->failedFrom) return self->failure;
        self->failure = SQLITE_OK;
    }
    // The header at offset 0 starts the log again (a new WAL, or one restarted after a checkpoint).
    if (offset == 0) self->written = 0;
    int rewrite = offset < self->written;
    if (self->length > 0 && (rewrite || offset != self->start + self->length || self->length + count > bufferCapacity)) {
        int rc = flush(self);
        if (rc != SQLITE_OK) return rc;
    }
    if (offset + count > self->written) self->written = offset + count;
    if (self->buffer == NULL && !rewrite) self->buffer = malloc(bufferCapacity);
    if (rewrite || self->buffer == NULL || count > bufferCapacity) {
        self->commitPending = 0;
        atomic_fetch_add_explicit(&issuedWrites, 1, memory_order_relaxed);
        return self->real->pMethods->xWrite(self->real, data, count, offset);
    }
    if (self->length == 0) self->start = offset;
    memcpy(self->buffer + self->length, data, (size_t)count);
    self->length += count;
    if (self->commitPending) {
        self->commitPending = 0;
        return flush(self);
    }
    // A frame header's bytes 4-7 are the database size after a commit, and zero in every other frame.
    if (count == frameHeaderSize) {
        const unsigned char *header = data;
        self->commitPending = (header[4] | header[5] | header[6] | header[7]) != 0;
    }
    return SQLITE_OK;
}

static int coalescingTruncate(sqlite3_file *file, sqlite3_int64 size) {
    CoalescingFile *self = (CoalescingFile *)file;
    int rc = flush(self);
    if (rc != SQLITE_OK) return rc;
    if (self->failure != SQLITE_OK && size <= self->failedFrom) self->failure = SQLITE_OK;
    return self->real->pMethods->xTruncate(self->real, size);
}

static int coalescingSync(sqlite3_file *file, int flags) {
    CoalescingFile *self = (CoalescingFile *)file;
    int rc = flush(self);
    if (rc != SQLITE_OK) return rc;
    if (self->failure != SQLITE_OK) return self->failure;
    return self->real->pMethods->xSync(self->real, flags);
}

static int coalescingFileSize(sqlite3_file *file, sqlite3_int64 *size) {
    CoalescingFile *self = (CoalescingFile *)file;
    int rc = flush(self);
    if (rc != SQLITE_OK) return rc;
    return self->real->pMethods->xFileSize(self->real, size);
}

static int coalescingLock(sqlite3_file *file, int level) { return realFile(file)->pMethods->xLock(realFile(file), level); }
static int coalescingUnlock(sqlite3_file *file, int level) { return realFile(file)->pMethods->xUnlock(realFile(file), level); }
static int coalescingCheckReservedLock(sqlite3_file *file, int *out) {
    return realFile(file)->pMethods->xCheckReservedLock(realFile(file), out);
}
static int coalescingFileControl(sqlite3_file *file, int op, void *argument) {
    if (op == SQLITE_FCNTL_POWERSAFE_OVERWRITE && argument != NULL && *(int *)argument == 0) {
        atomic_store(&powersafeTurnedOff, 1);
    }
    return realFile(file)->pMethods->xFileControl(realFile(file), op, argument);
}
static int coalescingSectorSize(sqlite3_file *file) { return realFile(file)->pMethods->xSectorSize(realFile(file)); }
static int coalescingDeviceCharacteristics(sqlite3_file *file) {
    return realFile(file)->pMethods->xDeviceCharacteristics(realFile(file));
}
static int coalescingShmMap(sqlite3_file *file, int region, int size, int extend, void volatile **out) {
    return realFile(file)->pMethods->xShmMap(realFile(file), region, size, extend, out);
}
static int coalescingShmLock(sqlite3_file *file, int offset, int count, int flags) {
    return realFile(file)->pMethods->xShmLock(realFile(file), offset, count, flags);
}
static void coalescingShmBarrier(sqlite3_file *file) { realFile(file)->pMethods->xShmBarrier(realFile(file)); }
static int coalescingShmUnmap(sqlite3_file *file, int deleteFlag) {
    return realFile(file)->pMethods->xShmUnmap(realFile(file), deleteFlag);
}
static int coalescingFetch(sqlite3_file *file, sqlite3_int64 offset, int count, void **out) {
    return realFile(file)->pMethods->xFetch(realFile(file), offset, count, out);
}
static int coalescingUnfetch(sqlite3_file *file, sqlite3_int64 offset, void *page) {
    return realFile(file)->pMethods->xUnfetch(realFile(file), offset, page);
}

static const sqlite3_io_methods coalescingMethods = {
    3, coalescingClose, coalescingRead, coalescingWrite, coalescingTruncate, coalescingSync, coalescingFileSize,
    coalescingLock, coalescingUnlock, coalescingCheckReservedLock, coalescingFileControl, coalescingSectorSize,
    coalescingDeviceCharacteristics, coalescingShmMap, coalescingShmLock, coalescingShmBarrier, coalescingShmUnmap,
    coalescingFetch, coalescingUnfetch,
};

// The underlying file lives right after ours, in the memory SQLite allocates for a file (szOsFile is the sum).
static size_t ownSize(void) { return (sizeof(CoalescingFile) + 15) & ~(size_t)15; }

static int coalescingOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *outFlags) {
    (void)vfs;
    CoalescingFile *self = (CoalescingFile *)file;
    memset(self, 0, sizeof *self);
    self->real = (sqlite3_file *)((unsigned char *)file + ownSize());
    int rc = underlying->xOpen(underlying, name, self->real, flags, outFlags);
    if (self->real->pMethods == NULL) {
        // Nothing opened: SQLite calls no method of this file.
        self->base.pMethods = NULL;
        return rc;
    }
    // SQLite closes a file whose open failed through our methods, so they are set whatever the outcome. The underlying
    // methods must offer all ours forward (version 3: shared memory and memory mapping).
    self->base.pMethods = &coalescingMethods;
    if (rc == SQLITE_OK && self->real->pMethods->iVersion < 3) return SQLITE_CANTOPEN;
    // wal.c pads and syncs inside frames when the database file lacks power-safe overwrites (header comment); the unix
    // VFS takes that from the database's `psow` URI parameter, which the WAL's name carries too, or the compiled default.
    self->isWAL = (flags & SQLITE_OPEN_WAL) != 0 && rc == SQLITE_OK && sqlite3_uri_boolean(name, "psow", powersafeDefault)
        && !atomic_load(&powersafeTurnedOff);
    return rc;
}

static int coalescingDelete(sqlite3_vfs *vfs, const char *name, int syncDirectory) {
    (void)vfs;
    return underlying->xDelete(underlying, name, syncDirectory);
}
static int coalescingAccess(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    (void)vfs;
    return underlying->xAccess(underlying, name, flags, out);
}
static int coalescingFullPathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return underlying->xFullPathname(underlying, name, size, out);
}
static void *coalescingDlOpen(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return underlying->xDlOpen(underlying, name);
}
static void coalescingDlError(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    underlying->xDlError(underlying, size, out);
}
static void (*coalescingDlSym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void) {
    (void)vfs;
    return underlying->xDlSym(underlying, handle, symbol);
}
static void coalescingDlClose(sqlite3_vfs *vfs, void *handle) {
    (void)vfs;
    underlying->xDlClose(underlying, handle);
}
static int coalescingRandomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return underlying->xRandomness(underlying, size, out);
}
static int coalescingSleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return underlying->xSleep(underlying, microseconds);
}
static int coalescingCurrentTime(sqlite3_vfs *vfs, double *out) {
    (void)vfs;
    return underlying->xCurrentTime(underlying, out);
}
static int coalescingGetLastError(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return underlying->xGetLastError(underlying, size, out);
}
static int coalescingCurrentTimeInt64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    (void)vfs;
    return underlying->xCurrentTimeInt64(underlying, out);
}

static void install(void) {
    // SQLite's global configuration (no allocation statistics, the page cache) was set when the binary was loaded
    // (PageCache.c); a VFS may be registered at any time.
    installResult = sqlite3_initialize();
    if (installResult != SQLITE_OK) return;
    underlying = sqlite3_vfs_find(NULL);
    powersafeDefault = !sqlite3_compileoption_used("POWERSAFE_OVERWRITE=0");
    if (underlying == NULL || underlying->iVersion < 2 || underlying->xCurrentTimeInt64 == NULL) {
        installResult = SQLITE_ERROR;
        return;
    }
    coalescing = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)(ownSize() + (size_t)underlying->szOsFile),
        .mxPathname = underlying->mxPathname,
        .zName = "tollgate-wal-coalescing",
        .xOpen = coalescingOpen,
        .xDelete = coalescingDelete,
        .xAccess = coalescingAccess,
        .xFullPathname = coalescingFullPathname,
        .xDlOpen = coalescingDlOpen,
        .xDlError = coalescingDlError,
        .xDlSym = coalescingDlSym,
        .xDlClose = coalescingDlClose,
        .xRandomness = coalescingRandomness,
        .xSleep = coalescingSleep,
        .xCurrentTime = coalescingCurrentTime,
        .xGetLastError = coalescingGetLastError,
        .xCurrentTimeInt64 = coalescingCurrentTimeInt64,
    };
    installResult = sqlite3_vfs_register(&coalescing, 1);
}

int tollgate_wal_coalescing_install(void) {
    pthread_once(&installOnce, install);
    return installResult;
}

int tollgate_wal_coalescing_installed(void) {
    sqlite3_vfs *current = sqlite3_vfs_find(NULL);
    return current != NULL && current == &coalescing;
}

tollgate_wal_coalescing_counts tollgate_wal_coalescing_counters(void) {
    tollgate_wal_coalescing_counts counts = {
        atomic_load_explicit(&requestedWrites, memory_order_relaxed),
        atomic_load_explicit(&issuedWrites, memory_order_relaxed),
    };
    return counts;
}
