import Testing
import TollgateCore

/// One conformance suite for every `GatewayStore`: the behaviour the gateway relies on, asserted the same way
/// against each store. A store's test target plugs in with one parameterised test:
///
///     @Test(arguments: StoreConformance.checks) func conforms(_ check: StoreConformance.Check) async throws {
///         try await check.run { keys in try SQLiteStores.open(path: temporaryPath(), auditKeys: keys) }
///     }
///
/// Each check opens its own empty store through the factory (with the audit keys it passes, nil for the unkeyed
/// chain). Assertions are Swift Testing expectations, recorded against the calling test.
public enum StoreConformance {
    public typealias Factory = @Sendable (_ auditKeys: KeyRing?) async throws -> any GatewayStore

    public struct Check: Sendable, CustomTestStringConvertible {
        public let name: String
        let body: @Sendable (Factory) async throws -> Void

        public var testDescription: String { name }

        /// Runs the check on a fresh store from `factory`.
        public func run(_ factory: @escaping Factory) async throws { try await body(factory) }
    }

    public static let checks: [Check] = [
        Check(name: "concurrent reserves of one proof: exactly one is reserved", body: reservationsUnderConcurrency),
        Check(name: "one offer, one claim; identifiers; release and purge", body: claims),
        Check(name: "stored responses: ready only once delivered, until they expire", body: storedResponses),
        Check(name: "ledger: one payment row per authorization, summed per asset", body: ledger),
        Check(name: "concurrent spend holds never exceed a cap", body: capsUnderConcurrency),
        Check(name: "spend holds: committed on settlement, released on release and failure", body: capLifecycle),
        Check(name: "holdSpend is idempotent per flow and bucket (a takeover holds once)", body: holdSpendIdempotent),
        Check(name: "packages: grants, holds never below zero, finishing returns unused units", body: packages),
        Check(name: "abandoned claims: purging gives their spend back once, never a claim money may move on", body: abandonedClaims),
        Check(name: "unit holds no request finished lapse back to the balance once; a late finish still spends", body: lapsedUnitHolds),
        Check(name: "more abandoned claims and holds than one batch: one sweep gives every one back", body: manyAbandoned),
        Check(name: "refunds: never more than paid, even racing; credits; closing", body: refunds),
        Check(name: "refunds of a package purchase: every unit taken back in parts, none refunded automatically once spent", body: packageRefunds),
        Check(name: "a refund sent again with its idempotency key is recorded once, even racing", body: idempotentRefunds),
        Check(name: "revocations and incidents", body: controls),
        Check(name: "audit chain: concurrent appends stay one intact keyed chain", body: auditChain),
        Check(name: "usage: per resource and unit, refunds netted", body: usage),
        Check(name: "settlement intents: recorded, resolved, abandoned after a restart", body: settlementIntents),
        Check(name: "a settled outcome is one way: a resolution losing a race records neither failed nor unknown over it", body: settledIsOneWay),
        Check(name: "a settled, undelivered answer is delivered or refunded, never both, even racing", body: deliveredOrRefunded),
        Check(name: "a lost delivery reopens its flow only while it is the flow's one delivery, even racing", body: lostDeliveries),
        Check(name: "the audit archive's index names the ranges that hold a flow, payer, transaction or nonce", body: archiveIndex),
    ]

    // MARK: fixtures

    public static let auditKeys = KeyRing([SecretKey(id: "k1", secret: Array(repeating: 7, count: 32))!])!.auditKeys()

    public static func key(_ nonce: Int, payer: String = "0xabc0000000000000000000000000000000000001") -> ProofKey {
        ProofKey(network: "eip155:84532", asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e", payer: payer, nonce: "0x" + String(nonce, radix: 16))
    }

    public static func reservation(_ key: ProofKey, _ correlationId: String, client: String = "alice", validBefore: Int64 = 2_000_000_000,
                            identifier: String? = nil, fingerprint: String = "") -> Reservation {
        Reservation(key: key, correlationId: correlationId, clientId: client, resource: "datasets", validBefore: validBefore,
                    paymentIdentifier: identifier, fingerprint: fingerprint)
    }

    public static func payment(_ key: ProofKey, _ correlationId: String, amount: String = "1000", client: String = "alice") -> PaymentRecord {
        PaymentRecord(correlationId: correlationId, rail: "test-rail", network: key.network, asset: key.asset, payer: key.payer,
                      payee: "0x209693bc6afc0c5328ba36faf03c514ef312287c", amount: amount, nonce: key.nonce, transaction: "0x" + String(repeating: "a", count: 64),
                      clientId: client, resource: "datasets", unit: "request", quantity: 1, settledAtMillis: 1_750_000_000_000)
    }

    public static func event(_ correlationId: String, at millis: Int64 = 1_750_000_000_000) -> AuditEvent {
        AuditEvent(correlationId: correlationId, timeMillis: millis, stage: .respond, outcome: .ok, clientId: "alice", resource: "datasets",
                   details: ["n": String(millis)])
    }

    static func response(_ correlationId: String, expiresAt: Int64 = 2_000_000_000) -> StoredResponse {
        StoredResponse(correlationId: correlationId, clientId: "alice", request: "GET /datasets/a", status: 200, headers: [["content-type", "text/plain"]],
                       body: Array("paid".utf8), expiresAt: expiresAt)
    }

    public static func hold(_ amount: String, maximum: String, subject: String = "client:alice", bucket: String = "eip155:84532/0xusdc/2026-11") -> SpendHold {
        SpendHold(subject: subject, bucket: bucket, amount: TokenAmount(atomic: amount)!, maximum: TokenAmount(atomic: maximum)!)
    }

    static func usageEvent(_ correlationId: String, quantity: Int, source: UsageEvent.Source = .payment, amount: String = "1000",
                           at millis: Int64 = 1_750_000_000_000) -> UsageEvent {
        UsageEvent(correlationId: correlationId, clientId: "alice", payer: key(0).payer, resource: "datasets", unit: "record", quantity: quantity,
                   paidQuantity: quantity, source: source, amount: source == .package ? "0" : amount, asset: source == .package ? "" : key(0).asset,
                   atMillis: millis)
    }

    /// A settled, delivered flow: reserved, finished with its payment (and metering).
    static func settle(_ store: any GatewayStore, _ key: ProofKey, _ correlationId: String, amount: String = "1000",
                       metering: MeteringRecord? = nil) async throws {
        #expect(try await store.reserve(reservation(key, correlationId), events: [event(correlationId)]) == .reserved)
        try await store.finish(key, state: .settled, payment: payment(key, correlationId, amount: amount), response: response(correlationId),
                               metering: metering, delivery: .next(), events: [event(correlationId)])
    }

    // MARK: reservations

    static func reservationsUnderConcurrency(_ open: Factory) async throws {
        let store = try await open(nil)
        let proof = key(1)
        let outcomes = try await withThrowingTaskGroup(of: ReservationOutcome.self) { group in
            for attempt in 0..<20 {
                group.addTask { try await store.reserve(reservation(proof, "tg_flow\(attempt)"), events: [event("tg_flow\(attempt)")]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .reserved }.count == 1)
        // Events are written with the claim only: exactly one flow has them, and every other attempt names it.
        var winners: [String] = []
        for flow in (0..<20).map({ "tg_flow\($0)" }) {
            if try await store.events(correlationId: flow).isEmpty == false { winners.append(flow) }
        }
        #expect(winners.count == 1)
        #expect(outcomes.filter { $0 == .alreadyClaimed(correlationId: winners.first ?? "", state: .reserved) }.count == 19)
        #expect(try await store.reservationState(proof) == .reserved)
    }

    static func claims(_ open: Factory) async throws {
        let store = try await open(nil)
        #expect(try await store.reserve(reservation(key(1), "tg_a"), events: []) == .reserved)
        #expect(try await store.reserve(reservation(key(2), "tg_a"), events: []) == .offerAlreadyUsed(state: .reserved))
        // The same payment identifier with another proof is a conflict; with the same one it is the same claim.
        #expect(try await store.reserve(reservation(key(3), "tg_b", identifier: "pay-1", fingerprint: "f1"), events: []) == .reserved)
        #expect(try await store.reserve(reservation(key(4), "tg_c", identifier: "pay-1", fingerprint: "f2"), events: [])
            == .identifierConflict(correlationId: "tg_b"))
        // The identifier names a purchase, not a spelling: the same authorization re-encoded (another digest, the same
        // offer) is that claim, resumed as its retry, and still after the claim was released (nothing was charged);
        // another offer under it is a conflict, whatever its spelling.
        #expect(try await store.reserve(reservation(key(5), "tg_d", identifier: "pay-2", fingerprint: "spelling-1"), events: []) == .reserved)
        #expect(try await store.reserve(reservation(key(5), "tg_d", identifier: "pay-2", fingerprint: "spelling-2"), events: [])
            == .alreadyClaimed(correlationId: "tg_d", state: .reserved))
        #expect(try await store.reserve(reservation(key(6), "tg_e", identifier: "pay-2", fingerprint: "spelling-3"), events: [])
            == .identifierConflict(correlationId: "tg_d"))
        try await store.release(key(5), events: [])
        #expect(try await store.reserve(reservation(key(5), "tg_d", identifier: "pay-2", fingerprint: "spelling-2"), events: []) == .reserved)
        // Released: the proof may be presented again.
        try await store.release(key(1), events: [])
        #expect(try await store.reservationState(key(1)) == nil)
        #expect(try await store.reserve(reservation(key(1), "tg_a"), events: []) == .reserved)
        // Settled: release changes nothing.
        try await store.finish(key(1), state: .settled, payment: payment(key(1), "tg_a"), events: [])
        try await store.release(key(1), events: [])
        #expect(try await store.reservationState(key(1)) == .settled)
        // Purge: expired reserved and failed claims go, settled and in-doubt ones stay.
        for (index, state) in [Reservation.State.reserved, .failed, .unknown, .settled].enumerated() {
            let proof = key(10 + index)
            #expect(try await store.reserve(reservation(proof, "tg_p\(index)", validBefore: 1_000), events: []) == .reserved)
            if state != .reserved { try await store.finish(proof, state: state, payment: nil, events: []) }
        }
        #expect(try await store.purgeReservations(expiredBefore: 2_000) == 2)
        #expect(try await store.reservationState(key(10)) == nil)
        #expect(try await store.reservationState(key(11)) == nil)
        #expect(try await store.reservationState(key(12)) == .unknown)
        #expect(try await store.reservationState(key(13)) == .settled)
    }

    // MARK: stored responses and ledger

    static func storedResponses(_ open: Factory) async throws {
        let store = try await open(nil)
        try await settle(store, key(1), "tg_a")
        #expect(try await store.storedResponse(key(1), now: 1_999_999_999)?.body == Array("paid".utf8))
        #expect(try await store.storedResponse(key(1), now: 2_000_000_001) == nil)
        // An answer prepared before settlement is not served until the payment is known to have settled and it is delivered.
        #expect(try await store.reserve(reservation(key(2), "tg_b"), events: []) == .reserved)
        try await store.recordSettlementIntent(intent(key(2), "tg_b", response: response("tg_b")), events: [])
        #expect(try await store.storedResponse(key(2), now: 0) == nil)
        #expect(try await store.openSettlement(key(2))?.intent.response?.correlationId == "tg_b")
        try await store.resolveSettlement(key(2), outcome: .settled, delivered: true, events: [])
        #expect(try await store.storedResponse(key(2), now: 0)?.correlationId == "tg_b")
        // The paid path: the answer prepared with the intent, then kept by `finish` with the ledger row and usage (one
        // statement on PostgreSQL): served once finished, one ledger row, the intent settled.
        #expect(try await store.reserve(reservation(key(3), "tg_c"), events: []) == .reserved)
        try await store.recordSettlementIntent(intent(key(3), "tg_c", response: response("tg_c")), events: [])
        #expect(try await store.storedResponse(key(3), now: 0) == nil)
        // What `finish` keeps replaces the prepared answer: with the receipt, and kept from its own settlement on.
        var receipted = response("tg_c", expiresAt: 2_100_000_000)
        receipted.headers.append(["payment-response", "receipt"])
        try await store.finish(key(3), state: .settled, payment: payment(key(3), "tg_c"), response: receipted,
                               metering: MeteringRecord(usage: usageEvent("tg_c", quantity: 1)), delivery: .next(), events: [])
        #expect(try await store.storedResponse(key(3), now: 0)?.correlationId == "tg_c")
        #expect(try await store.storedResponse(key(3), now: 2_050_000_000)?.headers == receipted.headers)
        #expect(try await store.payments(correlationId: "tg_c").count == 1)
        #expect(try await store.openSettlement(key(3))?.outcome == .settled)
        // Another answer kept later under the same authorization is served whole: its body with its own headers, never
        // the receipt of the one it replaced.
        var again = response("tg_c")
        again.body = Array("paid again".utf8)
        try await store.recordDelivery(key(3), response: again, metering: nil, delivery: .next(), events: [])
        #expect(try await store.storedResponse(key(3), now: 0).map { [$0.body == again.body, $0.headers == again.headers] } == [true, true])
        // `settle: before`: settled first, the answer kept when it is delivered.
        #expect(try await store.reserve(reservation(key(4), "tg_d"), events: []) == .reserved)
        try await store.recordSettlementIntent(intent(key(4), "tg_d"), events: [])
        try await store.finish(key(4), state: .settled, payment: payment(key(4), "tg_d"), response: nil, metering: nil, delivery: nil, events: [])
        #expect(try await store.storedResponse(key(4), now: 0) == nil)
        #expect(try await store.openSettlement(key(4))?.delivered == false)
        try await store.recordDelivery(key(4), response: response("tg_d"), metering: nil, delivery: .next(), events: [])
        #expect(try await store.storedResponse(key(4), now: 0)?.correlationId == "tg_d")
        #expect(try await store.openSettlement(key(4))?.delivered == true)
    }

    static func ledger(_ open: Factory) async throws {
        let store = try await open(nil)
        try await settle(store, key(1), "tg_a", amount: "700")
        // The same settlement recorded twice (two resolutions racing) is one ledger row.
        try await store.finish(key(1), state: .settled, payment: payment(key(1), "tg_a", amount: "700"), events: [])
        try await settle(store, key(2), "tg_b", amount: "300")
        #expect(try await store.payments(correlationId: "tg_a").map(\.amount) == ["700"])
        let summary = try await store.spend(client: "alice", payer: nil)
        #expect(summary.count == 2)
        #expect(summary.totals.map(\.amount) == ["1000"])
        #expect(try await store.spend(client: nil, payer: "0xABC" + key(1).payer.dropFirst(5)).count == 2)
        #expect(try await store.spend(client: "bob", payer: nil).count == 0)
    }

    // MARK: caps

    static func capsUnderConcurrency(_ open: Factory) async throws {
        let store = try await open(nil)
        let refused = try await withThrowingTaskGroup(of: SpendHold?.self) { group in
            for flow in 0..<30 { group.addTask { try await store.holdSpend([hold("1", maximum: "10")], correlationId: "tg_\(flow)") } }
            return try await group.reduce(into: 0) { $0 += $1 == nil ? 0 : 1 }
        }
        #expect(refused == 20)
        #expect(try await store.spendTotal(subject: "client:alice", bucket: hold("1", maximum: "10").bucket).atomic == "10")
        // All or nothing: a second cap that does not fit holds nothing in the first.
        let other = hold("1", maximum: "5", subject: "payer:0xabc")
        #expect(try await store.holdSpend([other, hold("1", maximum: "10")], correlationId: "tg_x") == hold("1", maximum: "10"))
        #expect(try await store.spendTotal(subject: "payer:0xabc", bucket: other.bucket).isZero)
        #expect(try await store.spendTotals(subject: "client:alice") == [other.bucket: "10"])
    }

    static func capLifecycle(_ open: Factory) async throws {
        let store = try await open(nil)
        let bucket = hold("1", maximum: "1").bucket
        func total() async throws -> String { try await store.spendTotal(subject: "client:alice", bucket: bucket).atomic }
        for (index, end) in ["release", "failed", "unknown", "settled"].enumerated() {
            let proof = key(index + 1), flow = "tg_\(end)"
            #expect(try await store.reserve(reservation(proof, flow), events: []) == .reserved)
            #expect(try await store.holdSpend([hold("4", maximum: "100")], correlationId: flow) == nil)
            switch end {
            case "release": try await store.release(proof, events: [])
            case "failed": try await store.finish(proof, state: .failed, payment: nil, events: [])
            case "unknown": try await store.finish(proof, state: .unknown, payment: nil, events: [])
            default: try await store.finish(proof, state: .settled, payment: payment(proof, flow), events: [])
            }
        }
        // Released and failed gave their 4 back; unknown keeps its hold (money may move); settled committed it.
        #expect(try await total() == "8")
        // A committed hold is never released, even if the claim is released or fails afterwards.
        try await store.release(key(4), events: [])
        try await store.finish(key(4), state: .failed, payment: nil, events: [])
        #expect(try await total() == "8")
        // The unknown one settles: committed.
        try await store.finish(key(3), state: .settled, payment: payment(key(3), "tg_unknown"), events: [])
        #expect(try await total() == "8")
    }

    static func holdSpendIdempotent(_ open: Factory) async throws {
        let store = try await open(nil)
        let proof = key(1)
        let holds = [hold("3", maximum: "10"), hold("3", maximum: "10", subject: "payer:0xabc")]
        #expect(try await store.reserve(reservation(proof, "tg_a"), events: []) == .reserved)
        #expect(try await store.holdSpend(holds, correlationId: "tg_a") == nil)
        // A takeover of the `reserved` claim runs the flow again, holdSpend included.
        #expect(try await store.reserve(reservation(proof, "tg_a"), events: []) == .alreadyClaimed(correlationId: "tg_a", state: .reserved))
        #expect(try await store.holdSpend(holds, correlationId: "tg_a") == nil)
        #expect(try await store.spendTotal(subject: "client:alice", bucket: holds[0].bucket).atomic == "3")
        #expect(try await store.spendTotal(subject: "payer:0xabc", bucket: holds[1].bucket).atomic == "3")
        // Released, the flow may hold again (the proof is presented again), once.
        try await store.release(proof, events: [])
        #expect(try await store.spendTotal(subject: "client:alice", bucket: holds[0].bucket).isZero)
        #expect(try await store.reserve(reservation(proof, "tg_a"), events: []) == .reserved)
        #expect(try await store.holdSpend(holds, correlationId: "tg_a") == nil)
        #expect(try await store.holdSpend(holds, correlationId: "tg_a") == nil)
        #expect(try await store.spendTotal(subject: "client:alice", bucket: holds[0].bucket).atomic == "3")
        try await store.finish(proof, state: .settled, payment: payment(proof, "tg_a"), events: [])
        #expect(try await store.holdSpend(holds, correlationId: "tg_a") == nil)
        #expect(try await store.spendTotal(subject: "client:alice", bucket: holds[0].bucket).atomic == "3")
    }

    // MARK: packages (refunds: StoreConformance+Refunds.swift)

    static func packages(_ open: Factory) async throws {
        let store = try await open(nil)
        // Buying 10 units with a request that consumed 2 leaves 8.
        try await settle(store, key(1), "tg_buy", metering: MeteringRecord(usage: usageEvent("tg_buy", quantity: 2),
                                                                         grant: PackageGrant(clientId: "alice", package: "bundle", unit: "record", units: 10)))
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 8])
        #expect(try await store.holdUnits(UnitHold(correlationId: "tg_none", clientId: "bob", package: "bundle", units: 1), events: [])
            == .insufficient(balance: 0))
        let outcomes = try await withThrowingTaskGroup(of: (String, UnitHoldOutcome).self) { group in
            for flow in (0..<6).map({ "tg_u\($0)" }) {
                group.addTask { (flow, try await store.holdUnits(UnitHold(correlationId: flow, clientId: "alice", package: "bundle", units: 3), events: [])) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let held = outcomes.filter { if case .held = $0.value { true } else { false } }.keys.sorted()
        #expect(held.count == 2)
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 2])
        // Held 3, consumed 1: 2 go back. Held 3, consumed 9: the balance pays what it can, never below zero.
        try #require(held.count == 2)
        try await store.finishUnits(correlationId: held[0], consumed: 1, usage: usageEvent(held[0], quantity: 1, source: .package), events: [])
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 4])
        for flow in outcomes.keys where flow != held[0] { try await store.finishUnits(correlationId: flow, consumed: 9, usage: nil, events: []) }
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 0])
        try await store.finishUnits(correlationId: held[0], consumed: 0, usage: nil, events: [])
        #expect(try await store.packageBalances(clientId: "alice") == ["bundle": 0])
    }

    // MARK: controls

    static func controls(_ open: Factory) async throws {
        let store = try await open(nil)
        try await store.revoke(kind: .payer, subject: "0xABC", reason: "stolen", actor: "ops")
        try await store.revoke(kind: .client, subject: "alice", reason: "leaked", actor: "ops")
        var snapshot = try await store.loadControls()
        #expect(snapshot.revokedPayers == ["0xabc": "stolen"])
        #expect(snapshot.revokedClients == ["alice": "leaked"])
        #expect(try await store.unrevoke(kind: .payer, subject: "0xAbc", actor: "ops"))
        #expect(try await store.unrevoke(kind: .payer, subject: "0xabc", actor: "ops") == false)
        let first = try await store.startIncident(scope: nil, reason: "chain halt", actor: "ops")
        #expect(try await store.startIncident(scope: nil, reason: "again", actor: "ops") == first)
        _ = try await store.startIncident(scope: "datasets", reason: "upstream down", actor: "ops")
        snapshot = try await store.loadControls()
        #expect(snapshot.revokedPayers.isEmpty)
        #expect(snapshot.globalIncident == first)
        #expect(snapshot.routeIncidents["datasets"]?.reason == "upstream down")
        #expect(try await store.endIncident(scope: nil, actor: "ops") == first)
        #expect(try await store.endIncident(scope: nil, actor: "ops") == nil)
        #expect(try await store.loadControls().globalIncident == nil)
        #expect(try await store.auditEvents(stage: .admin, limit: 100).map(\.event.reason)
            == ["revoke", "revoke", "unrevoke", "incident_on", "incident_on", "incident_off"])
    }

    // MARK: audit

    static func auditChain(_ open: Factory) async throws {
        let store = try await open(auditKeys)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for flow in 0..<10 {
                group.addTask { for step in 0..<5 { try await store.append([event("tg_\(flow)", at: 1_000 + Int64(step))]) } }
            }
            try await group.waitForAll()
        }
        let report = try await store.verifyAuditLog()
        #expect(report.isIntact)
        #expect(report.events == 50)
        let head = try #require(try await store.auditHead())
        #expect(head.seq == 50)
        #expect(try await store.holds(head) == true)
        #expect(try await store.holds(AuditHead(seq: head.seq, hash: "v2:k1:00")) == false)
        #expect(try await store.auditSequenceValue() == 50)
        #expect(try await store.events(correlationId: "tg_3").map(\.event.timeMillis) == [1_000, 1_001, 1_002, 1_003, 1_004])
        let page = try await store.auditEvents(after: 10, limit: 5)
        #expect(page.map(\.seq) == [11, 12, 13, 14, 15])
        #expect(zip(page, page.dropFirst()).allSatisfy { $0.hash == $1.previousHash })
        var exported: [Int64] = []
        let count = try await store.exportAudit(sinceMillis: 1_004, untilMillis: .max, pageSize: 3) { page in exported += page.map(\.seq) }
        #expect(count == 10)
        #expect(exported.count == 10)
        #expect(exported == exported.sorted())
        // Unkeyed, the chain does not verify with the keys (and the other way round).
        let unkeyed = try await open(nil)
        try await unkeyed.append([event("tg_x")])
        #expect(try await unkeyed.verifyAuditLog().isIntact)
    }

    static func usage(_ open: Factory) async throws {
        let store = try await open(nil)
        try await settle(store, key(1), "tg_a", amount: "1000", metering: MeteringRecord(usage: usageEvent("tg_a", quantity: 3, amount: "1000", at: 100)))
        try await settle(store, key(2), "tg_b", amount: "500", metering: MeteringRecord(usage: usageEvent("tg_b", quantity: 2, amount: "500", at: 200)))
        try await settle(store, key(3), "tg_c", amount: "1", metering: MeteringRecord(usage: usageEvent("tg_c", quantity: 7, amount: "1", at: 900)))
        _ = try await store.refund(RefundRequest(correlationId: "tg_b", amount: TokenAmount(atomic: "200"), reason: "slow", actor: "t"), nowMillis: 1)
        let summary = try #require(try await store.usage(clientId: "alice", fromMillis: 0, toMillis: 500).first)
        #expect(summary.events == 2)
        #expect(summary.quantity == 5)
        #expect(summary.paid == [key(0).asset: "1500"])
        #expect(summary.refunded == [key(0).asset: "200"])
        #expect(try await store.usage(clientId: "bob", fromMillis: 0, toMillis: 1_000).isEmpty)
        // Recorded once per flow.
        try await store.finishUnits(correlationId: "tg_a", consumed: 0, usage: usageEvent("tg_a", quantity: 99, at: 100), events: [])
        #expect(try await store.usage(clientId: nil, fromMillis: 0, toMillis: 500).first?.quantity == 5)
    }

}

/// Expects `body` to throw a `TollgateError` with `code` (a store failure, also a `TollgateError`, does not pass).
func expect<T>(throwing code: TollgateError.Code, sourceLocation: SourceLocation = #_sourceLocation,
               _ body: () async throws -> T) async {
    do {
        _ = try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as TollgateError {
        #expect(error.code == code, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
