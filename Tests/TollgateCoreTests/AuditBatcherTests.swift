import Logging
import Synchronization
import Testing
import TollgateCore
import TollgateStoreConformance

/// Unpaid-path audit events wait in memory for a flush: bounded, never lost when a write fails, never written twice.
@Suite struct AuditBatcherTests {
    let logger = Logger(label: "tollgate.tests") { _ in SwiftLogNoOpLogHandler() }

    static func flows(_ range: Range<Int>) -> [String] { range.map { "tg_\($0)" } }

    func record(_ batcher: AuditBatcher, _ range: Range<Int>) async {
        for index in range { await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index))) }
    }

    @Test("events wait in memory until a flush, then are written once, in order; an empty flush writes nothing")
    func eventsWaitForAFlush() async {
        let store = InMemoryStore()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), logger: logger)
        await record(batcher, 0..<5)
        #expect(await store.recorded.isEmpty)
        await batcher.flush()
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<5))
        #expect(await store.appendCalls == 1)
        await batcher.flush()
        #expect(await store.appendCalls == 1)
    }

    /// The backlog is bounded by a count of events; a request line of 80 KiB in each (a flood of long URLs while the store is
    /// slow) would make that count gigabytes. What is held keeps each detail to 2 KiB, cut at a character boundary, with
    /// the length it had; short values are kept as they are.
    @Test("a long detail value is kept to its start and its length: the backlog is bounded in bytes too")
    func longDetailsAreClipped() async throws {
        let store = InMemoryStore()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), logger: logger)
        var long = StoreConformance.event("tg_long", at: 1)
        // An odd number of ASCII bytes before two-byte characters: 2 KiB falls inside one.
        let target = "/datasets/x" + String(repeating: "é", count: 40_000)
        long.details = ["request": "GET " + target, "price": "0.01"]
        await batcher.record(long, StoreConformance.event("tg_short", at: 2))
        await batcher.flush()
        let recorded = await store.recorded.map(\.event)
        let request = try #require(recorded.first?.details["request"])
        #expect(request.utf8.count <= AuditBatcher.maxDetailBytes + 32)
        #expect(request.hasPrefix("GET /datasets/xéé") && request.hasSuffix("…[\(("GET " + target).utf8.count) bytes]"))
        #expect(!request.contains("\u{FFFD}"), "cut inside a character")
        #expect(recorded.first?.details["price"] == "0.01")
        #expect(recorded.last?.details == StoreConformance.event("tg_short", at: 2).details)
    }

    @Test("at capacity, recording writes the buffer before it returns: a flood cannot grow it")
    func capacityBoundsTheBuffer() async {
        let store = InMemoryStore()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 4, logger: logger)
        await record(batcher, 0..<10)
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<8))
        #expect(await store.appendCalls == 2)
        await batcher.flush()
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<10))
    }

    @Test("a batch the store refused is written by the next flush, before what came after it: none lost, none twice")
    func aRefusedBatchWaitsForTheNextFlush() async {
        let store = InMemoryStore()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), logger: logger)
        await record(batcher, 0..<3)
        await store.fail(.append)
        await batcher.flush()
        #expect(await store.recorded.isEmpty)
        await record(batcher, 3..<5)
        await store.recover()
        await batcher.flush()
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<5))
        await batcher.flush()
        #expect(await store.recorded.count == 5)
    }

    @Test("events recorded by many tasks at once all arrive, once each")
    func concurrentRecordsAllArrive() async {
        let store = InMemoryStore()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 16, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<20 {
                group.addTask { await record(batcher, task * 10..<task * 10 + 10) }
            }
        }
        await batcher.flush()
        let flows = await store.recorded.map(\.event.correlationId)
        #expect(flows.count == 200)
        #expect(Set(flows) == Set(Self.flows(0..<200)))
    }

    /// Counts what the batcher reports after each flush.
    final class BacklogWatcher: AuditObserver, Sendable {
        let reports = Mutex<[(waiting: Int, refused: Int)]>([])
        func observe(_ events: [AuditEvent]) {}
        func auditBacklog(waiting: Int, refused: Int) { reports.withLock { $0.append((waiting, refused)) } }
        var refused: Int { reports.withLock { $0.reduce(0) { $0 + $1.refused } } }
        var lastWaiting: Int? { reports.withLock { $0.last?.waiting } }
    }

    @Test("while the store refuses writes, the backlog stops at its limit: later events are refused and reported, the held ones all arrive once it recovers")
    func aStoreOutageCannotGrowTheBacklogWithoutBound() async {
        let store = InMemoryStore()
        let watcher = BacklogWatcher()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 4, backlogLimit: 10, observer: watcher, logger: logger)
        await store.fail(.append)
        var accepted: [Bool] = []
        for index in 0..<1000 { accepted.append(await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index)))) }
        #expect(accepted.prefix(10).allSatisfy { $0 })
        #expect(!accepted.dropFirst(10).contains(true))
        // The first write past capacity failed; within the interval, recording does not ask the failing store again.
        #expect(await store.appendAttempts == 1)
        await batcher.flush()
        #expect(watcher.refused == 990)
        #expect(watcher.lastWaiting == 10)

        await store.recover()
        await batcher.flush()
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<10))
        #expect(watcher.lastWaiting == 0)
        // Room again: recording is accepted and written as before.
        #expect(await batcher.record(StoreConformance.event("tg_1000", at: 1000)))
        await batcher.flush()
        #expect(await store.recorded.count == 11)
        #expect(watcher.refused == 990)
    }

    @Test("a batch being written counts against the limit: events recorded meanwhile cannot push the backlog past it when the write fails")
    func aBatchInFlightCountsAgainstTheLimit() async throws {
        let store = InMemoryStore()
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 4, backlogLimit: 8, logger: logger)
        await record(batcher, 0..<3)
        await store.fail(.append)
        await batcher.flush()
        await store.delay(.append, by: .milliseconds(300))
        let retry = Task { await batcher.flush() }
        try await Task.sleep(for: .milliseconds(100))
        var accepted = 0
        for index in 3..<20 where await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index))) { accepted += 1 }
        await retry.value
        #expect(accepted == 5)
        await store.recover()
        await batcher.flush()
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<8))
    }

    @Test("while the store takes writes, a burst from many tasks is never refused: past capacity each record waits for a flush")
    func aHealthyStoreNeverRefuses() async {
        let store = InMemoryStore()
        await store.delay(.append, by: .milliseconds(20))
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 2, backlogLimit: 2, logger: logger)
        let accepted = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<50 {
                group.addTask { await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index))) }
            }
            return await group.reduce(true) { $0 && $1 }
        }
        #expect(accepted)
        await batcher.flush()
        #expect(await store.recorded.count == 50)
    }

    @Test("a slow store that has not failed: a burst waits for the write in flight instead of growing the backlog past its limit; every event arrives")
    func aSlowStoreSlowsRecordingDown() async throws {
        let store = InMemoryStore()
        await store.delay(.append, by: .milliseconds(50))
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 4, backlogLimit: 8, logger: logger)
        let most = Mutex(0)
        let sampling = Task {
            while !Task.isCancelled {
                let held = batcher.held
                most.withLock { $0 = max($0, held) }
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        let accepted = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<60 {
                group.addTask { await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index))) }
            }
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        sampling.cancel()
        await batcher.flush()
        #expect(accepted == 60)
        #expect(most.withLock { $0 } <= 8)
        #expect(Set(await store.recorded.map(\.event.correlationId)) == Set(Self.flows(0..<60)))
        #expect(await store.recorded.count == 60)
    }

    @Test("after the store recovers, recording resumes writing by itself (no periodic flush running), at most once per interval while it fails")
    func recordingRetriesAFailedStoreOncePerInterval() async throws {
        let store = InMemoryStore()
        // 2 s: the first eleven records below must fall within one interval, even on a loaded machine.
        let batcher = AuditBatcher(store: store, interval: .seconds(2), capacity: 2, backlogLimit: 4, logger: logger)
        await store.fail(.append)
        for index in 0..<10 { await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index))) }
        #expect(await store.appendAttempts == 1)
        #expect(!(await batcher.record(StoreConformance.event("tg_10", at: 10))))
        await store.recover()
        // The backlog is full: until the interval is past, a record is refused without asking the store; then the next
        // record asks it again, and the store now takes the four held; the record is then taken, and the writes go on.
        let deadline = ContinuousClock.now + .seconds(30)
        var taken = false
        while !taken, ContinuousClock.now < deadline {
            taken = await batcher.record(StoreConformance.event("tg_11", at: 11))
            if !taken { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(taken)
        #expect(await store.appendAttempts == 2)
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<4))
        #expect(await batcher.record(StoreConformance.event("tg_12", at: 12)))
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<4) + ["tg_11", "tg_12"])
    }

    @Test("while a write is in flight, recording below the limit does not wait for it: only the caller that started it does")
    func recordingGoesOnDuringAWrite() async throws {
        let store = InMemoryStore()
        // 5 s: the 28 records below must all return while this write is in flight, even on a loaded machine.
        await store.delay(.append, by: .seconds(5))
        let batcher = AuditBatcher(store: store, interval: .seconds(3600), capacity: 2, backlogLimit: 100, logger: logger)
        await batcher.record(StoreConformance.event("tg_0", at: 0))
        let starter = Task { await batcher.record(StoreConformance.event("tg_1", at: 1)) }
        while await store.appendAttempts == 0 { try await Task.sleep(for: .milliseconds(5)) }
        for index in 2..<30 { #expect(await batcher.record(StoreConformance.event("tg_\(index)", at: Int64(index)))) }
        // All of them returned while the first write was still in flight.
        #expect(await store.recorded.isEmpty)
        #expect(await starter.value)
        await batcher.flush()
        #expect(await store.recorded.map(\.event.correlationId) == Self.flows(0..<30))
    }
}
