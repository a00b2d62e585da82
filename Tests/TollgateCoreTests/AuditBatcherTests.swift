import Logging
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
}
