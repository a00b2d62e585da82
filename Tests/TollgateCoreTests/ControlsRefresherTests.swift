import Logging
import Synchronization
import Testing
import TollgateCore

@Suite struct ControlsRefresherTests {
    /// A control store whose state the test sets, and which can be made to fail.
    final class ScriptedControlStore: ControlStore {
        struct Unavailable: Error {}
        let state = Mutex<ControlsSnapshot?>(ControlsSnapshot())

        func set(_ snapshot: ControlsSnapshot?) { state.withLock { $0 = snapshot } }

        func loadControls() async throws -> ControlsSnapshot {
            guard let snapshot = state.withLock({ $0 }) else { throw Unavailable() }
            return snapshot
        }
        func revoke(kind: RevocationKind, subject: String, reason: String, actor: String) async throws {}
        func unrevoke(kind: RevocationKind, subject: String, actor: String) async throws -> Bool { false }
        func startIncident(scope: String?, reason: String, actor: String) async throws -> Incident { Incident(id: "inc_0", reason: reason, sinceMillis: 0) }
        func endIncident(scope: String?, actor: String) async throws -> Incident? { nil }
        func spend(client: String?, payer: String?) async throws -> SpendSummary { SpendSummary(count: 0, totals: []) }
    }

    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    @Test func copiesTheStoreAndKeepsTheLastStateWhenItFails() async throws {
        let store = ScriptedControlStore()
        let controls = OperatorControls()
        let refresher = ControlsRefresher(store: store, controls: controls, logger: Self.logger)
        store.set(ControlsSnapshot(revokedClients: ["alice": "leaked"]))
        try await refresher.refresh()
        #expect(controls.isRevoked(client: "alice"))

        store.set(nil)
        await #expect(throws: ScriptedControlStore.Unavailable.self) { try await refresher.refresh() }
        // A store outage must not lift a revocation.
        #expect(controls.isRevoked(client: "alice"))
    }

    @Test func pollsUntilCancelled() async throws {
        let store = ScriptedControlStore()
        let controls = OperatorControls()
        let refresher = ControlsRefresher(store: store, controls: controls, interval: .milliseconds(5), logger: Self.logger)
        let task = Task { try await refresher.run() }
        store.set(nil)
        try await Task.sleep(for: .milliseconds(30))
        store.set(ControlsSnapshot(globalIncident: Incident(id: "inc_1", reason: "outage", sinceMillis: 1)))
        let deadline = ContinuousClock.now + .seconds(30)
        while controls.incident(for: "datasets") == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(controls.incident(for: "datasets")?.id == "inc_1")
        task.cancel()
        try await task.value
    }
}
