import TollgateCore

/// A `GatewayStore` in memory, with the rules of the SQLite store (the conformance suite runs against both):
/// one claim per proof key and one per offer (correlation id), Core's policy for spend holds, package units and
/// refunds, a hash-chained audit log. Being an actor, every call is one atomic step. For tests: every write is
/// counted, and any operation can be made to throw.
public actor InMemoryStore: GatewayStore {
    public enum Operation: Sendable, Hashable {
        case reserve, release, finish, append, events, purge, controls
    }

    public struct Claim: Sendable, Hashable {
        public var reservation: Reservation
        public var state: Reservation.State
    }

    public nonisolated let auditKeys: KeyRing?
    let clock: any GatewayClock

    public internal(set) var claims: [ProofKey: Claim] = [:]
    /// The live audit log, in seq order.
    public internal(set) var recorded: [RecordedAuditEvent] = []
    public internal(set) var payments: [PaymentRecord] = []
    /// Calls of `append(_:)` that succeeded.
    public internal(set) var appendCalls = 0
    /// Calls of `append(_:)`, failed ones included.
    public internal(set) var appendAttempts = 0
    /// Calls of any writing method (reserve, release, finish, append, purge).
    public internal(set) var writeCalls = 0
    var failing: Set<Operation> = []
    var failingOnce: Set<Operation> = []
    var delays: [Operation: Duration] = [:]
    var gates: [Operation: @Sendable () async -> Void] = [:]
    var refusesCancelledCallers = false
    var leasedElsewhere: Set<ProofKey> = []

    public init(auditKeys: KeyRing? = nil, clock: any GatewayClock = SystemClock()) {
        self.auditKeys = auditKeys
        self.clock = clock
    }

    public func fail(_ operations: Operation...) { failing.formUnion(operations) }
    /// Makes the next call of each of `operations` throw, and only that one.
    public func failOnce(_ operations: Operation...) { failingOnce.formUnion(operations) }
    /// Makes `operation` take `duration` before it does anything (only `append` so far): a write in flight, for tests of
    /// what happens meanwhile.
    public func delay(_ operation: Operation, by duration: Duration) { delays[operation] = duration }
    /// Makes `operation` await `gate` before it does anything (only `reserve` so far): for tests of what runs while a
    /// claim is being written.
    public func gate(_ operation: Operation, with gate: @escaping @Sendable () async -> Void) { gates[operation] = gate }
    /// Makes every write refuse a caller whose task is cancelled (`CancellationError`), as a store behind a connection
    /// pool may (its lease is cancelled with the task).
    public func refuseCancelledCallers() { refusesCancelledCallers = true }

    /// Says the claim of `key` is held by a live process other than this one, as a shared store's lease says
    /// (`OpenSettlement.leasedElsewhere`; `release` then releases nothing), until `leaseLapses`.
    public func leaseElsewhere(_ key: ProofKey) { leasedElsewhere.insert(key) }

    /// Ends what `leaseElsewhere` said: the other process stopped working on the claim of `key`.
    public func leaseLapses(_ key: ProofKey) { leasedElsewhere.remove(key) }
    /// Ends every failure, delay and gate.
    public func recover() {
        refusesCancelledCallers = false
        failing.removeAll()
        failingOnce.removeAll()
        delays.removeAll()
        gates.removeAll()
    }

    public func state(of key: ProofKey) -> Reservation.State? { claims[key]?.state }

    // MARK: reservations

    var identifiers: [String: (fingerprint: String, correlationId: String, atMillis: Int64)] = [:]
    var proofs: [EvidenceMaterial.Proof] = []
    var proofFlows: [Int64: String] = [:]

    public func reserve(_ reservation: Reservation, events: [AuditEvent]) async throws -> ReservationOutcome {
        if let gate = gates[.reserve] { await gate() }
        try check(.reserve)
        let identifierKey = reservation.paymentIdentifier.map { "\(reservation.clientId)\u{0}\($0)" }
        if let identifierKey, let earlier = identifiers[identifierKey],
           reservation.conflictsWithIdentifier(recordedAs: earlier.fingerprint, for: earlier.correlationId) {
            return .identifierConflict(correlationId: earlier.correlationId)
        }
        if let claim = claims[reservation.key] {
            return .alreadyClaimed(correlationId: claim.reservation.correlationId, state: claim.state)
        }
        if let claim = claims.values.first(where: { $0.reservation.correlationId == reservation.correlationId }) {
            return .offerAlreadyUsed(state: claim.state)
        }
        let now = clock.nowMillis()
        claims[reservation.key] = Claim(reservation: reservation, state: .reserved)
        if let identifierKey, identifiers[identifierKey] == nil {
            identifiers[identifierKey] = (reservation.fingerprint, reservation.correlationId, now)
        }
        let key = reservation.key
        let id = Int64(proofs.count + 1)
        proofs.append(.init(id: id, network: key.network, asset: key.asset, payer: key.payer, nonce: key.nonce, offerToken: reservation.offerToken,
                            payload: reservation.payload, receivedAtMillis: now))
        proofFlows[id] = reservation.correlationId
        write(events)
        return .reserved
    }

    /// A claim `leaseElsewhere` says another process holds is not released (false), as on a shared store.
    @discardableResult
    public func release(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        try check(.release)
        if leasedElsewhere.contains(key) {
            write(events)
            return false
        }
        if let claim = claims[key] {
            endHolds(claim.reservation.correlationId, as: SpendHolds.afterRelease)
            if StoreRetention.releasableStates.contains(claim.state) {
                claims[key] = nil
                if intents[key]?.outcome == .open { intents[key] = nil }
                if responses[key]?.ready == false { responses[key] = nil }
            }
        }
        write(events)
        return true
    }

    /// A claim `leaseElsewhere` says another process holds is not ended (false), as on a shared store.
    public func finishOwnClaim(_ key: ProofKey, state: Reservation.State, events: [AuditEvent]) async throws -> Bool {
        if leasedElsewhere.contains(key) {
            try check(.finish)
            write(events)
            return false
        }
        try await finish(key, state: state, payment: nil, events: events)
        return true
    }

    /// Not while `leaseElsewhere` says another process holds the claim.
    public func takeClaim(_ key: ProofKey) async throws -> Bool { !leasedElsewhere.contains(key) }

    public func isClaimLeasedElsewhere(_ key: ProofKey) async throws -> Bool { leasedElsewhere.contains(key) }

    public func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                       metering: MeteringRecord?, delivery: DeliveryToken?, events: [AuditEvent]) async throws {
        try check(.finish)
        if delivery != nil { try RefundPolicy.checkDeliverable(intents[key]?.outcome) }
        if let response { responses[key] = (response, true) }
        settleIntent(key, state: state, transaction: payment?.transaction, delivery: delivery)
        // A settled claim is never undone (failed, unknown) by a resolution that lost a race to another's success.
        if !(claims[key]?.state == .settled && [.failed, .unknown].contains(state)) { claims[key]?.state = state }
        if let flow = claims[key]?.reservation.correlationId, let next = SpendHolds.afterFinish(state) { endHolds(flow, as: next) }
        // One authorization, one ledger row.
        if let payment, !payments.contains(where: { ProofKey(network: $0.network, asset: $0.asset, payer: $0.payer, nonce: $0.nonce) == key }) {
            payments.append(payment)
        }
        if let metering, state == .settled { record(metering) }
        write(events)
    }

    public func recordDelivery(_ key: ProofKey, response: StoredResponse?, metering: MeteringRecord?, delivery: DeliveryToken,
                               events: [AuditEvent]) async throws {
        try check(.finish)
        try RefundPolicy.checkDeliverable(intents[key]?.outcome)
        if let response { responses[key] = (response, true) }
        settleIntent(key, state: nil, transaction: nil, delivery: delivery)
        if let metering { record(metering) }
        write(events)
    }

    public func recordReplay(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        // Mostly the replay's audit record: it fails as appends do.
        try check(.append)
        if let open = intents[key] {
            guard open.outcome == .settled, open.delivered else { return false }
            soleDelivery[key] = nil
        }
        write(events)
        return true
    }

    public func reopenDelivery(_ delivery: SettledDelivery, keepForOwner: Bool, nowSeconds: Int64, events: @escaping @Sendable (ReopenedDelivery) -> [AuditEvent]) async throws
        -> ReopenedDelivery {
        try check(.finish)
        let key = delivery.key
        var outcome = ReopenedDelivery.unchanged
        if let open = intents[key], open.intent.correlationId == delivery.correlationId, open.outcome == .settled, open.delivered,
           soleDelivery[key] == delivery.token {
            intents[key]?.delivered = false
            soleDelivery[key] = nil
            updated[key] = clock.nowMillis()
            let kept = responses[key].flatMap { $0.ready && $0.response.expiresAt >= nowSeconds ? $0.response : nil }
            outcome = .reopened(kept: kept, correlationId: delivery.correlationId, grantedUnits: grants[delivery.correlationId] != nil,
                                keep: keepForOwner)
            if outcome == .notKept { responses[key]?.ready = false }
        }
        write(events(outcome))
        return outcome
    }

    public func purgeReservations(expiredBefore unixSeconds: Int64) async throws -> Int {
        try check(.purge)
        let expired = claims.filter { $0.value.reservation.validBefore < unixSeconds && StoreRetention.purgeableStates.contains($0.value.state) }
        for claim in expired.values {
            let flow = claim.reservation
            endHolds(flow.correlationId, as: .released)
            if claim.state == .reserved {
                write([StoreRetention.lapsedClaimEvent(correlationId: flow.correlationId, clientId: flow.clientId, resource: flow.resource,
                                                       atMillis: clock.nowMillis())])
            }
        }
        for key in expired.keys { claims[key] = nil }
        responses = responses.filter { $0.value.response.expiresAt >= unixSeconds }
        identifiers = identifiers.filter { $0.value.atMillis >= (unixSeconds - StoreRetention.paymentIdentifierSeconds) * 1000 }
        intents = intents.filter { !StoreRetention.isResolved($0.value.outcome, delivered: $0.value.delivered) || updated[$0.key, default: 0] >= unixSeconds * 1000 }
        soleDelivery = soleDelivery.filter { intents[$0.key] != nil }
        return expired.count
    }

    public func payments(correlationId: String) -> [PaymentRecord] {
        payments.filter { $0.correlationId == correlationId }
    }

    public func reservationState(_ key: ProofKey) async throws -> Reservation.State? { claims[key]?.state }

    /// Sets a claim's state as a crash would leave it (tests of recovery).
    public func setState(_ state: Reservation.State, of key: ProofKey) { claims[key]?.state = state }

    // MARK: stored responses

    var responses: [ProofKey: (response: StoredResponse, ready: Bool)] = [:]

    public func storedResponse(_ key: ProofKey, now unixSeconds: Int64) async throws -> StoredResponse? {
        guard let entry = responses[key], entry.ready, entry.response.expiresAt >= unixSeconds else { return nil }
        return entry.response
    }

    // MARK: settlement ledger

    public internal(set) var intents: [ProofKey: OpenSettlement] = [:]
    var updated: [ProofKey: Int64] = [:]
    /// The token of each intent's one delivery since it was last undelivered (none once it was delivered more than once).
    var soleDelivery: [ProofKey: DeliveryToken] = [:]

    // (methods: InMemoryStore+Settlements.swift)

    // MARK: spend holds

    var spendTotals: [SpendHolds.Bucket: TokenAmount] = [:]
    var spendHolds: [String: [SpendHolds.Bucket: (amount: TokenAmount, state: SpendHolds.State)]] = [:]

    public func holdSpend(_ holds: [SpendHold], correlationId: String) async throws -> SpendHold? {
        let counted = Set((spendHolds[correlationId] ?? [:]).filter { $0.value.state.counts }.keys)
        switch SpendHolds.decide(holds, totals: spendTotals, counted: counted) {
        case .exceeds(let hold):
            return hold
        case .hold(let writes):
            for write in writes {
                spendTotals[SpendHolds.Bucket(write.hold)] = write.total
                spendHolds[correlationId, default: [:]][SpendHolds.Bucket(write.hold)] = (write.hold.amount, .held)
            }
            return nil
        }
    }

    public func spendTotal(subject: String, bucket: String) async throws -> TokenAmount {
        spendTotals[.init(subject: subject, bucket: bucket)] ?? .zero
    }

    public nonisolated func health() -> StoreHealth { StoreHealth(backend: "memory") }

    public nonisolated var invalidProofCounter: (any InvalidProofCounter)? { nil }

    public nonisolated func exclusively<Value: Sendable>(_ name: String, _ body: @Sendable () async throws -> Value) async throws -> Value? {
        try await body()
    }

    public func spendTotals(subject: String) async throws -> [String: String] {
        Dictionary(spendTotals.filter { $0.key.subject == subject }.map { ($0.key.bucket, $0.value.atomic) }) { first, _ in first }
    }

    func endHolds(_ correlationId: String, as next: SpendHolds.State) {
        for (bucket, hold) in spendHolds[correlationId] ?? [:] where hold.state == .held {
            if next == .released { spendTotals[bucket] = SpendHolds.released(spendTotals[bucket] ?? .zero, amount: hold.amount) }
            spendHolds[correlationId]?[bucket]?.state = next
        }
        // A released hold no longer counts anywhere: it goes (holding for the flow again starts afresh).
        if next == .released { spendHolds[correlationId] = spendHolds[correlationId]?.filter { $0.value.state == .committed } }
    }

    // MARK: metering and refunds

    /// Usage events by correlation id.
    public internal(set) var usage: [String: UsageEvent] = [:]
    /// Balances by `client/package`.
    public internal(set) var balances: [String: Int] = [:]
    var units: [String: String] = [:]
    var unitHolds: [String: (hold: UnitHold, state: String, atMillis: Int64)] = [:]
    var grants: [String: PackageGrant] = [:]
    public internal(set) var refundsRecorded: [Refund] = []
    /// Refund ids by the idempotency key that recorded them.
    var refundKeys: [String: String] = [:]

    // (methods: InMemoryStore+Metering.swift, InMemoryStore+Refunds.swift)

    // MARK: operator controls

    var revocations: [RevocationKind: [String: String]] = [:]
    var incidents: [String: Incident] = [:]
    private static let globalScope = "global"

    public func loadControls() async throws -> ControlsSnapshot {
        if failing.contains(.controls) { throw Self.failure }
        var snapshot = ControlsSnapshot(revokedClients: revocations[.client] ?? [:], revokedPayers: revocations[.payer] ?? [:])
        snapshot.globalIncident = incidents[Self.globalScope]
        snapshot.routeIncidents = incidents.filter { $0.key != Self.globalScope }
        return snapshot
    }

    public func revoke(kind: RevocationKind, subject: String, reason: String, actor: String) async throws {
        let subject = kind.normalized(subject)
        revocations[kind, default: [:]][subject] = reason
        write([AdminEvent.make("revoke", actor: actor, timeMillis: clock.nowMillis(), details: ["kind": kind.rawValue, "subject": subject, "reason": reason])])
    }

    @discardableResult
    public func unrevoke(kind: RevocationKind, subject: String, actor: String) async throws -> Bool {
        let subject = kind.normalized(subject)
        guard revocations[kind]?.removeValue(forKey: subject) != nil else { return false }
        write([AdminEvent.make("unrevoke", actor: actor, timeMillis: clock.nowMillis(), details: ["kind": kind.rawValue, "subject": subject])])
        return true
    }

    public func startIncident(scope: String?, reason: String, actor: String) async throws -> Incident {
        let stored = scope ?? Self.globalScope
        if let current = incidents[stored] { return current }
        let incident = Incident(id: AdminEvent.incidentId(), reason: reason, sinceMillis: clock.nowMillis())
        incidents[stored] = incident
        write([AdminEvent.make("incident_on", actor: actor, timeMillis: incident.sinceMillis, resource: scope,
                               details: ["scope": stored, "incident": incident.id, "reason": reason])])
        return incident
    }

    public func endIncident(scope: String?, actor: String) async throws -> Incident? {
        let stored = scope ?? Self.globalScope
        guard let incident = incidents.removeValue(forKey: stored) else { return nil }
        write([AdminEvent.make("incident_off", actor: actor, timeMillis: clock.nowMillis(), resource: scope,
                               details: ["scope": stored, "incident": incident.id, "reason": incident.reason])])
        return incident
    }

    public func spend(client: String?, payer: String?) async throws -> SpendSummary {
        var count = 0
        var totals: [String: (network: String, asset: String, amount: String)] = [:]
        for payment in payments where (client == nil || payment.clientId == client) && (payer == nil || payment.payer.lowercased() == payer?.lowercased()) {
            let key = "\(payment.network)\u{0}\(payment.asset.lowercased())"
            guard let sum = DecimalSum.add(totals[key]?.amount ?? "0", payment.amount) else { continue }
            totals[key] = (payment.network, payment.asset.lowercased(), sum)
            count += 1
        }
        return SpendSummary(count: count, totals: totals.values.sorted { ($0.network, $0.asset) < ($1.network, $1.asset) }
            .map { .init(network: $0.network, asset: $0.asset, amount: $0.amount) })
    }

    // MARK: audit log and support

    var archives: [AuditArchiveRecord] = []
    /// Each archived range's lookup keys, by its first seq.
    var archiveKeys: [Int64: Set<String>] = [:]
    /// The highest seq ever assigned (it survives archiving).
    var sequence: Int64 = 0

    var disputeRecords: [DisputeRecord] = []

    // (methods: InMemoryStore+Audit.swift, InMemoryStore+Support.swift)

    // MARK: failing on purpose

    public static let failure = TollgateError(.storeUnavailable, "the in-memory store was switched to fail")

    func check(_ operation: Operation) throws {
        if refusesCancelledCallers { try Task.checkCancellation() }
        if failing.contains(operation) || failingOnce.remove(operation) != nil { throw Self.failure }
        writeCalls += 1
    }

    func write(_ events: [AuditEvent]) {
        for event in events {
            let previous = recorded.last?.hash ?? archives.last?.lastHash ?? AuditChain.genesis
            sequence += 1
            let hash = AuditChain.Prepared(event).hash(previous: previous, seq: sequence, keys: auditKeys)
            recorded.append(RecordedAuditEvent(seq: sequence, event: event, previousHash: previous, hash: hash))
        }
    }
}
