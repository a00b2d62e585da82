import Foundation
import PostgresNIO
import Synchronization
import Testing
import TollgateCore
@testable import TollgatePostgres
import TollgateStoreConformance

/// What only a shared store must do: two stores opened on one database behave as two gateway instances.
@Suite("PostgreSQL: several instances on one database")
struct PostgresInstancesTests {
    typealias F = StoreConformance

    /// Two instances on one new database.
    /// `defaultIsolation`: the database's own default transaction isolation, as an operator may have set it.
    static func twoInstances(settlingGraceSeconds: Int = 120, keys: KeyRing? = F.auditKeys,
                             defaultIsolation: String? = nil) async throws -> (PostgresStore, PostgresStore) {
        let (first, second, _) = try await instances(settlingGraceSeconds: settlingGraceSeconds, keys: keys, defaultIsolation: defaultIsolation)
        return (first, second)
    }

    /// `twoInstances`, with the database's configuration.
    static func instances(settlingGraceSeconds: Int = 120, keys: KeyRing? = F.auditKeys,
                          defaultIsolation: String? = nil) async throws -> (PostgresStore, PostgresStore, PostgresStoreConfiguration) {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = settlingGraceSeconds
        if let defaultIsolation {
            let database = configuration.database
            try await TestDatabase.admin(configuration) { client in
                try await client.query(PostgresQuery(unsafeSQL: """
                    ALTER DATABASE \(database) SET default_transaction_isolation = '\(defaultIsolation)'
                    """), logger: TestDatabase.logger)
            }
        }
        let first = try await PostgresStores.open(configuration, auditKeys: keys, logger: TestDatabase.logger)
        let second = try await PostgresStores.open(configuration, auditKeys: keys, logger: TestDatabase.logger)
        return (first, second, configuration)
    }

    @Test("copies of one proof claimed at both instances at once: one claim; copies at its instance name it, at the other wait")
    func oneClaimAcrossInstances() async throws {
        let (a, b) = try await Self.twoInstances()
        defer { a.close(); b.close() }
        let proof = F.key(7)
        let outcomes = try await withThrowingTaskGroup(of: ReservationOutcome.self) { group in
            for attempt in 0..<20 {
                let store = attempt.isMultiple(of: 2) ? a : b
                group.addTask { try await store.reserve(F.reservation(proof, "tg_copy\(attempt)"), events: [F.event("tg_copy\(attempt)")]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .reserved }.count == 1)
        // Ten copies went to each instance: the nine others at the winner's name the claim, the ten at the other are busy.
        #expect(outcomes.filter { if case .alreadyClaimed = $0 { true } else { false } }.count == 9)
        #expect(outcomes.filter { if case .busy = $0 { true } else { false } }.count == 10)
        // Settled through one instance, the proof is spent at the other.
        try await a.finish(proof, state: .settled, payment: F.payment(proof, "tg_settled"), events: [])
        #expect(try await b.reserve(F.reservation(proof, "tg_late"), events: []) != .reserved)
        #expect(try await b.reservationState(proof) == .settled)
    }

    /// Two instances resolving one settlement: the one whose re-sent `/settle` was refused (the other's landed first)
    /// must not undo the settled outcome, and a later attempt's intent at the other instance is refused (the claim is not
    /// its own), taking back neither the kept answer nor the settled claim.
    @Test("a settled outcome is one-way: a later failed finish or a new attempt's intent at another instance leaves it settled")
    func aSettledOutcomeIsOneWayAcrossInstances() async throws {
        let (a, b) = try await Self.twoInstances()
        defer { a.close(); b.close() }
        let proof = F.key(11)
        #expect(try await a.reserve(F.reservation(proof, "tg_one"), events: []) == .reserved)
        try await a.recordSettlementIntent(F.intent(proof, "tg_one"), events: [])
        try await a.finish(proof, state: .settled, payment: F.payment(proof, "tg_one"), events: [])
        try await b.finish(proof, state: .failed, payment: nil, events: [])
        #expect(try await b.reservationState(proof) == .settled)
        #expect(try await b.openSettlement(proof)?.outcome == .settled)
        let refused = await #expect(throws: TollgateError.self) { try await b.recordSettlementIntent(F.intent(proof, "tg_one"), events: []) }
        #expect(refused?.code == .claimHeldElsewhere)
        #expect(try await a.reservationState(proof) == .settled)
        #expect(try await a.openSettlement(proof)?.outcome == .settled)
    }

    /// `settle: before`: settled, then the upstream call runs at the owner. A copy of the same purchase at another instance
    /// waits (it would run the work again, or refund it while it runs) until the delivery is recorded; then it names the
    /// settled claim (its kept answer).
    @Test("a copy at another instance waits while the owner runs a settled purchase's upstream call, not once delivered")
    func aSettledUndeliveredClaimIsLiveAtItsOwner() async throws {
        let (a, b) = try await Self.twoInstances()
        defer { a.close(); b.close() }
        let proof = F.key(12)
        #expect(try await a.reserve(F.reservation(proof, "tg_before"), events: []) == .reserved)
        try await a.recordSettlementIntent(F.intent(proof, "tg_before"), events: [])
        try await a.finish(proof, state: .settled, payment: F.payment(proof, "tg_before"), events: [])
        #expect(try await b.reserve(F.reservation(proof, "tg_before"), events: []) == .busy(correlationId: "tg_before"))
        try await a.recordDelivery(proof, response: nil, metering: nil, delivery: DeliveryToken(1), events: [])
        #expect(try await b.reserve(F.reservation(proof, "tg_before"), events: []) == .alreadyClaimed(correlationId: "tg_before", state: .settled))
        // Its delivery lost and reopened: nobody works on it now, so the owner's retry at any instance carries it on.
        _ = try await a.reopenDelivery(SettledDelivery(correlationId: "tg_before", key: proof, token: DeliveryToken(1)), keepForOwner: true,
                                       nowSeconds: 0) { _ in [] }
        #expect(try await b.reserve(F.reservation(proof, "tg_before"), events: []) == .alreadyClaimed(correlationId: "tg_before", state: .settled))
    }

    /// Also on a server whose default isolation is stricter than read committed: each write reads the totals the write
    /// lock's last holder committed.
    @Test("spend holds from both instances at once never exceed the cap", arguments: [nil, "repeatable read", "serializable"])
    func capsAcrossInstances(defaultIsolation: String?) async throws {
        let (a, b) = try await Self.twoInstances(defaultIsolation: defaultIsolation)
        defer { a.close(); b.close() }
        let held = try await withThrowingTaskGroup(of: Bool.self) { group in
            for flow in 0..<30 {
                let store = flow.isMultiple(of: 2) ? a : b
                group.addTask { try await store.holdSpend([F.hold("100", maximum: "1000")], correlationId: "tg_cap\(flow)") == nil }
            }
            return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(held == 10)
        #expect(try await a.spendTotal(subject: "client:alice", bucket: "eip155:84532/0xusdc/2026-11") == TokenAmount(atomic: "1000"))
    }

    /// One payout transaction, two refunds closed with it at once, one at each instance: one close only (not two refunds
    /// marked paid by one transfer), also on a server whose default isolation is stricter than read committed. The
    /// write lock is held from outside until both closes wait for it, so the second runs right after the first commits.
    @Test("a payout transaction closes one refund across instances", arguments: [nil, "repeatable read"])
    func onePayoutAcrossInstances(defaultIsolation: String?) async throws {
        let (a, b, configuration) = try await Self.instances(defaultIsolation: defaultIsolation)
        defer { a.close(); b.close() }
        var ids: [String] = []
        for side in 0..<2 {
            let flow = "tg_payout\(side)", key = F.key(1_000 + side)
            #expect(try await a.reserve(F.reservation(key, flow), events: []) == .reserved)
            try await a.finish(key, state: .settled, payment: F.payment(key, flow), response: nil, events: [])
            ids.append(try await a.refund(RefundRequest(correlationId: flow, reason: "stale", actor: "t"), nowMillis: 1).id)
        }
        let transaction = "0x" + String(repeating: "5e", count: 32), lockKey = PostgresExecutor.writeLockKey, refunds = ids
        // The write lock as pg_locks names it: this database's, its key's two halves.
        let waiters = """
            SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid = \(lockKey >> 32) AND objid = \(lockKey & 0xFFFF_FFFF) AND objsubid = 1
            """
        try await TestDatabase.admin(configuration) { client in
            try await client.query("SELECT pg_advisory_lock(\(lockKey))", logger: TestDatabase.logger)
            async let first = Self.closes(a, refunds[0], transaction)
            async let second = Self.closes(b, refunds[1], transaction)
            // Until both closes wait for the lock (within the stores' operation timeout), then let them run.
            var waiting = 0
            for _ in 0..<300 where waiting < 2 {
                for try await count in try await client.query(PostgresQuery(unsafeSQL: waiters), logger: TestDatabase.logger).decode(Int.self) {
                    waiting = count
                }
                if waiting < 2 { try await Task.sleep(for: .milliseconds(10)) }
            }
            try await client.query("SELECT pg_advisory_unlock(\(lockKey))", logger: TestDatabase.logger)
            #expect(waiting == 2, "both closes were waiting for the write lock")
            let closed = try await [first, second]
            #expect(closed.filter { $0 }.count == 1, "\(closed)")
        }
        #expect(try await a.refunds(state: .paid, correlationId: nil, limit: 10).count == 1)
    }

    /// Whether the close went through; false when refused for its transaction.
    static func closes(_ store: PostgresStore, _ id: String, _ transaction: String) async throws -> Bool {
        do {
            _ = try await store.closeRefund(id: id, payoutTransaction: transaction, actor: "t", nowMillis: 2)
            return true
        } catch let error as TollgateError where error.code == .payoutTransactionUsed {
            return false
        }
    }

    /// Also on a server whose default isolation is stricter than read committed (see `capsAcrossInstances`).
    @Test("both instances extend one keyed audit chain, verified from either", arguments: [nil, "repeatable read", "serializable"])
    func oneChainAcrossInstances(defaultIsolation: String?) async throws {
        let (a, b) = try await Self.twoInstances(defaultIsolation: defaultIsolation)
        defer { a.close(); b.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in 0..<40 {
                let store = batch.isMultiple(of: 2) ? a : b
                group.addTask { try await store.append([F.event("tg_chain\(batch)"), F.event("tg_chain\(batch)", at: 1_750_000_000_001)]) }
            }
            try await group.waitForAll()
        }
        let report = try await b.verifyAuditLog()
        #expect(report.isIntact)
        #expect(report.events == 80)
        #expect(try await a.auditHead()?.seq == 80)
        #expect(try await a.auditSequenceValue() == 80)
    }

    @Test("a starting instance leaves claims another instance is settling now; a stale one is abandoned")
    func settlingClaimsOfALiveInstance() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 60
        let live = try await PostgresStores.open(configuration, auditKeys: nil, logger: TestDatabase.logger)
        let starting = try await PostgresStores.open(configuration, auditKeys: nil, logger: TestDatabase.logger)
        defer { live.close(); starting.close() }
        #expect(try await live.reserve(F.reservation(F.key(1), "tg_live"), events: []) == .reserved)
        try await live.recordSettlementIntent(F.intent(F.key(1), "tg_live"), events: [])
        #expect(try await starting.abandonSettling { _ in [] }.isEmpty)
        #expect(try await starting.reservationState(F.key(1)) == .settling)
        // The live instance stopped: once its lease lapses the claim is abandoned, so the reconciler resolves it.
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        #expect(try await starting.abandonSettling { open in [F.event(open.intent.correlationId)] }.map(\.intent.correlationId) == ["tg_live"])
        #expect(try await starting.reservationState(F.key(1)) == .unknown)
    }

    @Test("a copy at another instance waits while the owner works on the claim; a stopped owner's claim is adopted once")
    func claimsOfALiveInstanceAreNotTakenOver() async throws {
        var configuration = try await TestDatabase.create()
        configuration.settlingGraceSeconds = 60
        let owner = try await PostgresStores.open(configuration, auditKeys: nil, logger: TestDatabase.logger)
        let second = try await PostgresStores.open(configuration, auditKeys: nil, logger: TestDatabase.logger)
        let third = try await PostgresStores.open(configuration, auditKeys: nil, logger: TestDatabase.logger)
        defer { [owner, second, third].forEach { $0.close() } }
        let proof = F.key(3), copy = F.reservation(F.key(3), "tg_offer")
        #expect(try await owner.reserve(copy, events: []) == .reserved)
        // The same offer and proof at the owner itself: its own in-flight lock decides (the journey's takeover rule).
        #expect(try await owner.reserve(copy, events: []) == .alreadyClaimed(correlationId: "tg_offer", state: .reserved))
        #expect(try await second.reserve(copy, events: []) == .busy(correlationId: "tg_offer"))
        try await owner.recordSettlementIntent(F.intent(proof, "tg_offer"), events: [])
        #expect(try await second.reserve(copy, events: []) == .busy(correlationId: "tg_offer"))
        // The same proof under another offer waits too, as it would at the owner (its in-flight lock is per proof).
        #expect(try await second.reserve(F.reservation(proof, "tg_other"), events: []) == .busy(correlationId: "tg_offer"))
        // The owner stopped: after the grace period the second instance resumes the purchase and owns it now.
        try await TestDatabase.ageLeases(configuration, byMillis: 61_000)
        #expect(try await second.reserve(copy, events: []) == .alreadyClaimed(correlationId: "tg_offer", state: .settling))
        #expect(try await third.reserve(copy, events: []) == .busy(correlationId: "tg_offer"))
        // Settled, its answer not yet delivered: still the second instance's work. Delivered, the claim is what it is for everyone.
        try await second.finish(proof, state: .settled, payment: F.payment(proof, "tg_offer"), events: [])
        #expect(try await third.reserve(copy, events: []) == .busy(correlationId: "tg_offer"))
        try await second.recordDelivery(proof, response: nil, metering: nil, delivery: DeliveryToken(1), events: [])
        #expect(try await third.reserve(copy, events: []) == .alreadyClaimed(correlationId: "tg_offer", state: .settled))
    }

    @Test("an exclusive job runs on one instance at a time")
    func exclusiveJobs() async throws {
        let (a, b) = try await Self.twoInstances()
        defer { a.close(); b.close() }
        let (startedStream, started) = AsyncStream.makeStream(of: Void.self)
        let (finished, finish) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await a.exclusively("reconciler-test") {
                started.yield()
                for await _ in finished { break }
                return "a ran"
            }
        }
        for await _ in startedStream { break }
        #expect(try await b.exclusively("reconciler-test") { "b ran" } == nil)
        #expect(try await b.exclusively("another-job") { "b ran" } == "b ran")
        finish.yield()
        #expect(try await holder.value == "a ran")
        #expect(try await b.exclusively("reconciler-test") { "b ran" } == "b ran")
    }

    @Test("a pool of one still serves the store while the listener and an exclusive job hold their connections")
    func aSmallPoolNeverWaitsOnItsOwnLongHeldConnections() async throws {
        var configuration = try await TestDatabase.create(poolSize: 1)
        configuration.settlingGraceSeconds = 120
        let store = try await PostgresStores.open(configuration, auditKeys: F.auditKeys, logger: TestDatabase.logger)
        defer { store.close() }
        let (listening, listened) = AsyncStream.makeStream(of: Void.self)
        let follower = Task { await store.followControlChanges { listened.yield() } }
        defer { follower.cancel() }
        for await _ in listening { break }
        // The reconciler's pass: its lock holds one connection while its work reads and writes the store.
        let outcome = try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                try await store.exclusively("reconciler-test") {
                    _ = try await store.loadControls()
                    return try await store.reserve(F.reservation(F.key(3), "tg_small_pool"), events: []) == .reserved ? "worked" : "refused"
                }
            }
            group.addTask {
                // Only a guard against a hang (the failure this test is about), never a measure.
                try await Task.sleep(for: .seconds(120))
                return "hung"
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        #expect(outcome == "worked")
    }

    @Test("a revocation made through one instance is pushed to the other at once (LISTEN/NOTIFY)")
    func controlChangesArePushed() async throws {
        let (a, b) = try await Self.twoInstances()
        defer { a.close(); b.close() }
        let calls = Mutex(0)
        let (changes, signal) = AsyncStream.makeStream(of: Int.self)
        let follower = Task {
            await b.followControlChanges {
                let count = calls.withLock { $0 += 1; return $0 }
                signal.yield(count)
            }
        }
        defer { follower.cancel() }
        var iterator = changes.makeAsyncIterator()
        #expect(await iterator.next() == 1)  // once on start, for what changed before listening
        try await a.revoke(kind: .payer, subject: F.key(1).payer, reason: "stolen key", actor: "test")
        #expect(await iterator.next() == 2)
        #expect(try await b.loadControls().revokedPayers[F.key(1).payer] == "stolen key")
        _ = try await a.startIncident(scope: nil, reason: "facilitator down", actor: "test")
        #expect(await iterator.next() == 3)
    }

    @Test("an unreachable database fails within the timeout with store_unavailable, naming where, never hanging")
    func unreachableDatabaseFailsClosed() async throws {
        var configuration = try TestDatabase.cluster()
        configuration.port = 1  // nothing listens there
        configuration.operationTimeoutSeconds = 1
        configuration.migrateOnStart = false
        let error = await #expect(throws: TollgateError.self) {
            _ = try await PostgresStores.open(configuration, auditKeys: nil, logger: TestDatabase.logger)
        }
        #expect(error?.code == .storeUnavailable)
        #expect(error?.message.contains("127.0.0.1:1") == true)
    }
}

extension PostgresInstancesTests {
    @Test("the shared invalid-proof budget counts every instance's invalid proofs per key and window")
    func invalidProofsAreCountedTogether() async throws {
        let (a, b) = try await Self.twoInstances()
        defer { a.close(); b.close() }
        #expect(try await a.countInvalidProof(keys: ["ip:203.0.113.0/24", "payer:0xabc"], windowStart: 100) == 1)
        #expect(try await b.countInvalidProof(keys: ["ip:203.0.113.0/24", "payer:0xabc"], windowStart: 100) == 2)
        // The highest count of the keys is what counts: another IP, the same payer.
        #expect(try await b.countInvalidProof(keys: ["ip:198.51.100.0/24", "payer:0xabc"], windowStart: 100) == 3)
        // A key named twice counts once; another window starts again.
        #expect(try await a.countInvalidProof(keys: ["ip:192.0.2.0/24", "ip:192.0.2.0/24"], windowStart: 100) == 1)
        #expect(try await a.countInvalidProof(keys: ["payer:0xabc"], windowStart: 110) == 1)
        // Concurrent counts lose nothing.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 { group.addTask { try await (index.isMultiple(of: 2) ? a : b).countInvalidProof(keys: ["ip:x"], windowStart: 120) } }
            try await group.waitForAll()
        }
        #expect(try await a.countInvalidProof(keys: ["ip:x"], windowStart: 120) == 21)
    }
}
