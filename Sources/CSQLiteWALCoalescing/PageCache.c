// SQLite's default page cache, with one key changed: the temporary page number a B-tree page split uses.
//
// When a split leaves its new sibling pages out of page-number order, SQLite swaps their numbers through a temporary one,
// the number of the lock-byte page (1 GiB / page size + 1: 262,145 for 4 KiB pages), in three rekeys of the page cache.
// The default cache remembers the highest key it has held, and at the end of every write transaction drops the pages
// beyond the database's end: once that highest key is the lock-byte page, far beyond the end, it walks its whole hash
// table to find them, visiting every cached page. With the store writer's 32 MiB cache that walk was about 8,000 cache
// misses per commit, 2.5 % of a paid request's CPU and 7 % of the one writer thread's time.
//
// This cache passes every call to the default one, except that the temporary key is replaced by the number just above
// any key the cache holds (so it is no page's key either), and every later use of the temporary key by that page is
// translated back. The default cache then sees what it would if SQLite had picked that number for the swap: the
// transaction's end finds the one or two buckets above the database's end to look at, and stops. Which pages hold which
// content does not change: the temporary key is held by one page only, between the first and the last rekey of a swap.
//
// Installed by a constructor, before anything in the process can initialize SQLite (SQLite accepts a page cache only
// then), together with turning SQLite's allocation statistics off.

#include "CSQLiteWALCoalescing.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>

// SQLite's lock-byte offset (PENDING_BYTE): its page is never a B-tree page, which is why splits use its number.
static const sqlite3_int64 lockByteOffset = 0x40000000;

typedef struct WrappedCache {
    sqlite3_pcache *inner;
    // At least the highest key the inner cache may hold: every key created or rekeyed to, lowered by truncations.
    unsigned highestKey;
    // The lock-byte page's number for this cache's page size: the split's temporary key.
    unsigned temporaryKey;
    // The page holding the temporary key now, and the key the inner cache knows it by; NULL when none does.
    sqlite3_pcache_page *substitutedPage;
    unsigned substitute;
} WrappedCache;

static sqlite3_pcache_methods2 defaults;
// Whether SQLite initialized with this cache (set by whichever thread initializes SQLite).
static _Atomic int wrapped;
static _Atomic uint64_t substitutions;
static _Atomic uint64_t temporaryKeysPassed;

static WrappedCache *wrapper(sqlite3_pcache *cache) { return (WrappedCache *)cache; }

static void raiseHighest(WrappedCache *cache, unsigned key) {
    if (key > cache->highestKey) cache->highestKey = key;
}

/// The key the inner cache knows for `key` asked of `page` (NULL: any page).
static unsigned innerKey(WrappedCache *cache, sqlite3_pcache_page *page, unsigned key) {
    if (cache->substitutedPage != NULL && key == cache->temporaryKey && (page == NULL || page == cache->substitutedPage)) {
        return cache->substitute;
    }
    return key;
}

static int wrappedInit(void *arg) {
    (void)arg;
    int result = defaults.xInit(defaults.pArg);
    // Set here, when SQLite initializes with this cache: a program that installed its own cache after the constructor
    // did not get this one.
    atomic_store(&wrapped, result == SQLITE_OK);
    return result;
}

static void wrappedShutdown(void *arg) {
    (void)arg;
    if (defaults.xShutdown != NULL) defaults.xShutdown(defaults.pArg);
}

static sqlite3_pcache *wrappedCreate(int pageSize, int extraSize, int purgeable) {
    WrappedCache *cache = calloc(1, sizeof(WrappedCache));
    if (cache == NULL) return NULL;
    cache->inner = defaults.xCreate(pageSize, extraSize, purgeable);
    if (cache->inner == NULL) {
        free(cache);
        return NULL;
    }
    cache->temporaryKey = pageSize > 0 ? (unsigned)(lockByteOffset / pageSize) + 1 : 0;
    return (sqlite3_pcache *)cache;
}

static void wrappedCachesize(sqlite3_pcache *cache, int size) { defaults.xCachesize(wrapper(cache)->inner, size); }

static int wrappedPagecount(sqlite3_pcache *cache) { return defaults.xPagecount(wrapper(cache)->inner); }

static sqlite3_pcache_page *wrappedFetch(sqlite3_pcache *p, unsigned key, int create) {
    WrappedCache *cache = wrapper(p);
    unsigned inner = innerKey(cache, NULL, key);
    if (create) raiseHighest(cache, inner);
    return defaults.xFetch(cache->inner, inner, create);
}

static void wrappedUnpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard) {
    WrappedCache *cache = wrapper(p);
    if (discard && page == cache->substitutedPage) cache->substitutedPage = NULL;
    defaults.xUnpin(cache->inner, page, discard);
}

static void wrappedRekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned oldKey, unsigned newKey) {
    WrappedCache *cache = wrapper(p);
    unsigned from = innerKey(cache, page, oldKey);
    if (page == cache->substitutedPage) {
        // The substitute is free again: lowered back, so that a transaction of many splits does not climb its keys (and
        // the default cache's highest) one swap at a time until the end-of-transaction walk is a whole one again.
        cache->substitutedPage = NULL;
        if (from == cache->highestKey) cache->highestKey -= 1;
    }
    unsigned to = newKey;
    // Only the temporary key of a split is replaced, and only by a number above every key held (never the lock-byte
    // page itself, and never past the largest page number): any other key is a page SQLite will look up by it.
    if (newKey == cache->temporaryKey && cache->substitutedPage == NULL && cache->highestKey < 0xFFFFFFF0u) {
        unsigned candidate = cache->highestKey + 1;
        if (candidate == cache->temporaryKey) candidate += 1;
        if (candidate < cache->temporaryKey) {
            to = candidate;
            cache->substitutedPage = page;
            cache->substitute = candidate;
            atomic_fetch_add_explicit(&substitutions, 1, memory_order_relaxed);
        }
    }
    if (to == cache->temporaryKey) atomic_fetch_add_explicit(&temporaryKeysPassed, 1, memory_order_relaxed);
    raiseHighest(cache, to);
    defaults.xRekey(cache->inner, page, from, to);
}

static void wrappedTruncate(sqlite3_pcache *p, unsigned limit) {
    WrappedCache *cache = wrapper(p);
    // The inner cache drops every key from `limit` on, the substitute's included (the temporary key is then gone too).
    if (cache->substitutedPage != NULL && cache->substitute >= limit) cache->substitutedPage = NULL;
    if (limit > 0 && cache->highestKey >= limit) cache->highestKey = limit - 1;
    defaults.xTruncate(cache->inner, limit);
}

static void wrappedDestroy(sqlite3_pcache *p) {
    WrappedCache *cache = wrapper(p);
    defaults.xDestroy(cache->inner);
    free(cache);
}

static void wrappedShrink(sqlite3_pcache *p) {
    if (defaults.xShrink != NULL) defaults.xShrink(wrapper(p)->inner);
}

/// Runs when the binary is loaded, before any code of the process can have initialized SQLite.
__attribute__((constructor)) static void configureSQLite(void) {
    // No allocation statistics: nothing here reads them, and they take a process-wide mutex around every allocation and
    // free SQLite makes (about 1.5 % of a paid request's CPU, all of it on the store's writer thread). For every program
    // linking this module: sqlite3_memory_used, sqlite3_status and SQLite's soft and hard heap limits then count nothing.
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &defaults) != SQLITE_OK || defaults.iVersion < 1 || defaults.xCreate == NULL
        || defaults.xFetch == NULL || defaults.xRekey == NULL || defaults.xTruncate == NULL) {
        return;
    }
    static sqlite3_pcache_methods2 methods;
    methods = (sqlite3_pcache_methods2){
        .iVersion = defaults.iVersion,
        .pArg = NULL,
        .xInit = wrappedInit,
        .xShutdown = wrappedShutdown,
        .xCreate = wrappedCreate,
        .xCachesize = wrappedCachesize,
        .xPagecount = wrappedPagecount,
        .xFetch = wrappedFetch,
        .xUnpin = wrappedUnpin,
        .xRekey = wrappedRekey,
        .xTruncate = wrappedTruncate,
        .xDestroy = wrappedDestroy,
        .xShrink = wrappedShrink,
    };
    (void)sqlite3_config(SQLITE_CONFIG_PCACHE2, &methods);
}

int tollgate_page_cache_wrapped(void) { return atomic_load(&wrapped); }

uint64_t tollgate_page_cache_substitutions(void) { return atomic_load_explicit(&substitutions, memory_order_relaxed); }

uint64_t tollgate_page_cache_temporary_keys_passed(void) {
    return atomic_load_explicit(&temporaryKeysPassed, memory_order_relaxed);
}
