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
    private let clock: any GatewayClock

    public private(set) var claims: [ProofKey: Claim] = [:]
    /// The live audit log, in seq order.
    public private(set) var recorded: [RecordedAuditEvent] = []
    public private(set) var payments: [PaymentRecord] = []
    /// Calls of `append(_:)` that succeeded.
    public private(set) var appendCalls = 0
    /// Calls of `append(_:)`, failed ones included.
    public private(set) var appendAttempts = 0
    /// Calls of any writing method (reserve, release, finish, append, purge).
    public private(set) var writeCalls = 0
    private var failing: Set<Operation> = []
    private var failingOnce: Set<Operation> = []
    private var delays: [Operation: Duration] = [:]
    private var gates: [Operation: @Sendable () async -> Void] = [:]
    private var refusesCancelledCallers = false
    private var leasedElsewhere: Set<ProofKey> = []

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

    private var identifiers: [String: (fingerprint: String, correlationId: String, atMillis: Int64)] = [:]
    private var proofs: [EvidenceMaterial.Proof] = []
    private var proofFlows: [Int64: String] = [:]

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

    private var responses: [ProofKey: (response: StoredResponse, ready: Bool)] = [:]

    public func storedResponse(_ key: ProofKey, now unixSeconds: Int64) async throws -> StoredResponse? {
        guard let entry = responses[key], entry.ready, entry.response.expiresAt >= unixSeconds else { return nil }
        return entry.response
    }

    // MARK: settlement ledger

    public private(set) var intents: [ProofKey: OpenSettlement] = [:]
    private var updated: [ProofKey: Int64] = [:]
    /// The token of each intent's one delivery since it was last undelivered (none once it was delivered more than once).
    private var soleDelivery: [ProofKey: DeliveryToken] = [:]

    public func recordSettlementIntent(_ intent: SettlementIntent, events: [AuditEvent]) async throws {
        try check(.finish)
        if intents[intent.key] != nil {
            intents[intent.key]?.intent.attempt = intent.attempt
        } else {
            var stored = intent
            stored.response = nil
            intents[intent.key] = OpenSettlement(intent: stored, state: .settling, outcome: .open, delivered: false)
        }
        if let response = intent.response { responses[intent.key] = (response, false) }
        updated[intent.key] = clock.nowMillis()
        claims[intent.key]?.state = .settling
        write(events)
    }

    public func openSettlement(_ key: ProofKey) async throws -> OpenSettlement? {
        guard var open = intents[key] else { return nil }
        open.state = claims[key]?.state ?? .unknown
        open.intent.response = responses[key]?.response
        // As a shared store says it: only of a live claim (claimed, settling, or settled and not yet delivered).
        open.leasedElsewhere = open.isLive && leasedElsewhere.contains(key)
        return open
    }

    public func unresolvedSettlements(after: SettlementCursor?, limit: Int) async throws -> [OpenSettlement] {
        try await settlements(limit: limit) { ($0.outcome == .open || ($0.outcome == .settled && !$0.delivered)) && after?.precedes($0) != false }
    }

    public func settlementsForReview(limit: Int) async throws -> [OpenSettlement] {
        try await settlements(limit: limit) { $0.outcome == .review }
    }

    private func settlements(limit: Int, where include: (OpenSettlement) -> Bool) async throws -> [OpenSettlement] {
        var all: [OpenSettlement] = []
        for key in intents.keys {
            if let open = try await openSettlement(key), include(open) { all.append(open) }
        }
        return Array(all.sorted { ($0.intent.createdAtMillis, $0.intent.correlationId) < ($1.intent.createdAtMillis, $1.intent.correlationId) }.prefix(limit))
    }

    public func resolveSettlement(_ key: ProofKey, outcome: OpenSettlement.Outcome, delivered: Bool, events: [AuditEvent]) async throws {
        try check(.finish)
        intents[key]?.outcome = outcome
        if delivered {
            intents[key]?.delivered = true
            responses[key]?.ready = true
        }
        updated[key] = clock.nowMillis()
        write(events)
    }

    public func deliverSettled(_ key: ProofKey, delivery: DeliveryToken, events: [AuditEvent]) async throws -> Bool {
        try check(.finish)
        guard let open = intents[key], open.outcome == .settled else { return false }
        intents[key]?.delivered = true
        soleDelivery[key] = open.delivered ? nil : delivery
        responses[key]?.ready = true
        updated[key] = clock.nowMillis()
        write(events)
        return true
    }

    public func holdForReview(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool {
        try check(.finish)
        guard let open = intents[key], open.outcome == .settled, !open.delivered else { return false }
        intents[key]?.outcome = .review
        updated[key] = clock.nowMillis()
        write(events)
        return true
    }

    public func abandonSettling(events: @escaping @Sendable (OpenSettlement) -> [AuditEvent]) async throws -> [OpenSettlement] {
        var changed: [OpenSettlement] = []
        for (key, claim) in claims where claim.state == .settling {
            guard var open = try await openSettlement(key) else { continue }
            claims[key]?.state = .unknown
            open.state = .unknown
            write(events(open))
            changed.append(open)
        }
        return changed
    }

    private func settleIntent(_ key: ProofKey, state: Reservation.State?, transaction: String?, delivery: DeliveryToken?) {
        guard intents[key] != nil else { return }
        if let outcome = StoreRetention.intentOutcome(state), intents[key]?.outcome.isClosed != true,
           !(intents[key]?.outcome == .settled && outcome == .failed) {
            intents[key]?.outcome = outcome
        }
        if let transaction, !transaction.isEmpty { intents[key]?.transaction = transaction }
        if let delivery, let open = intents[key] {
            intents[key]?.delivered = true
            soleDelivery[key] = open.delivered ? nil : delivery
        }
        updated[key] = clock.nowMillis()
    }

    // MARK: spend holds

    private var spendTotals: [SpendHolds.Bucket: TokenAmount] = [:]
    private var spendHolds: [String: [SpendHolds.Bucket: (amount: TokenAmount, state: SpendHolds.State)]] = [:]

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

    private func endHolds(_ correlationId: String, as next: SpendHolds.State) {
        for (bucket, hold) in spendHolds[correlationId] ?? [:] where hold.state == .held {
            if next == .released { spendTotals[bucket] = SpendHolds.released(spendTotals[bucket] ?? .zero, amount: hold.amount) }
            spendHolds[correlationId]?[bucket]?.state = next
        }
        // A released hold no longer counts anywhere: it goes (holding for the flow again starts afresh).
        if next == .released { spendHolds[correlationId] = spendHolds[correlationId]?.filter { $0.value.state == .committed } }
    }

    // MARK: metering

    /// Usage events by correlation id.
    public private(set) var usage: [String: UsageEvent] = [:]
    /// Balances by `client/package`.
    public private(set) var balances: [String: Int] = [:]
    private var units: [String: String] = [:]
    private var unitHolds: [String: (hold: UnitHold, state: String, atMillis: Int64)] = [:]
    private var grants: [String: PackageGrant] = [:]
    public private(set) var refundsRecorded: [Refund] = []
    /// Refund ids by the idempotency key that recorded them.
    private var refundKeys: [String: String] = [:]

    public func setBalance(client: String, package: String, units: Int) { balances["\(client)/\(package)"] = units }
    public func balance(client: String, package: String) -> Int { balances["\(client)/\(package)"] ?? 0 }

    public func holdUnits(_ hold: UnitHold, events: [AuditEvent]) async throws -> UnitHoldOutcome {
        try check(.reserve)
        let key = "\(hold.clientId)/\(hold.package)"
        guard let balance = balances[key], let remaining = PackageUnits.afterHold(balance: balance, units: hold.units) else {
            return .insufficient(balance: balances[key] ?? 0)
        }
        balances[key] = remaining
        unitHolds[hold.correlationId] = (hold, "held", clock.nowMillis())
        write(events)
        return .held(remaining: remaining)
    }

    public func finishUnits(correlationId: String, consumed: Int, usage event: UsageEvent?, events: [AuditEvent]) async throws {
        try check(.finish)
        var events = events, event = event
        if let entry = unitHolds[correlationId] {
            let key = "\(entry.hold.clientId)/\(entry.hold.package)"
            if let finish = PackageUnits.finishing(entry.hold, state: entry.state, balance: balances[key], consumed: consumed, atMillis: clock.nowMillis()) {
                if let after = finish.balance { balances[key] = after }
                unitHolds[correlationId]?.state = finish.state
                if let late = finish.lateSpend { events.append(late) }
                event = finish.recorded(event)
            }
        }
        if let event, usage[event.correlationId] == nil { usage[event.correlationId] = event }
        write(events)
    }

    public func lapseUnitHolds(heldBeforeMillis: Int64) async throws -> Int {
        try check(.purge)
        let lapsed = unitHolds.values.filter { $0.state == "held" && $0.atMillis < heldBeforeMillis }.map(\.hold)
        for hold in lapsed {
            let key = "\(hold.clientId)/\(hold.package)"
            if let balance = balances[key] { balances[key] = PackageUnits.afterCredit(balance: balance, units: hold.units) }
            unitHolds[hold.correlationId]?.state = PackageUnits.lapsedHoldState
        }
        write(lapsed.map { PackageUnits.lapsedEvent($0, atMillis: clock.nowMillis()) })
        return lapsed.count
    }

    private func record(_ metering: MeteringRecord) {
        if usage[metering.usage.correlationId] == nil { usage[metering.usage.correlationId] = metering.usage }
        guard let grant = metering.grant, grants[metering.usage.correlationId] == nil else { return }
        grants[metering.usage.correlationId] = grant
        let key = "\(grant.clientId)/\(grant.package)"
        units[key] = grant.unit
        balances[key] = PackageUnits.afterGrant(balance: balances[key] ?? 0, granted: grant.units, consumed: metering.usage.quantity)
    }

    public func usage(clientId: String?, fromMillis: Int64, toMillis: Int64) async throws -> [UsageSummary] {
        var summaries: [String: UsageSummary] = [:]
        let events = usage.values.filter { $0.atMillis >= fromMillis && $0.atMillis < toMillis && (clientId == nil || $0.clientId == clientId) }
        for event in events {
            let key = "\(event.resource)\u{0}\(event.unit)"
            var summary = summaries[key] ?? UsageSummary(resource: event.resource, unit: event.unit, events: 0, quantity: 0, paid: [:])
            summary.events += 1
            summary.quantity += event.quantity
            if event.amount != "0", !event.asset.isEmpty {
                summary.paid[event.asset] = DecimalSum.add(summary.paid[event.asset] ?? "0", event.amount) ?? summary.paid[event.asset]
            }
            for refund in refundsRecorded where refund.correlationId == event.correlationId {
                if refund.kind == .packageCredit {
                    summary.creditedUnits += Int(refund.amount) ?? 0
                } else {
                    summary.refunded[refund.asset] = DecimalSum.add(summary.refunded[refund.asset] ?? "0", refund.amount) ?? summary.refunded[refund.asset]
                }
            }
            summaries[key] = summary
        }
        return summaries.values.sorted { ($0.resource, $0.unit) < ($1.resource, $1.unit) }
    }

    public func packageBalances(clientId: String) async throws -> [String: Int] {
        Dictionary(balances.compactMap { entry -> (String, Int)? in
            let parts = entry.key.split(separator: "/", maxSplits: 1).map(String.init)
            return parts.count == 2 && parts[0] == clientId ? (parts[1], entry.value) : nil
        }) { first, _ in first }
    }

    // MARK: refunds (Core's RefundPolicy, like every store)

    public func refund(_ request: RefundRequest, nowMillis: Int64) async throws -> Refund {
        let request = try RefundPolicy.validated(request)
        if let key = request.requestKey, let recorded = refundKeys[key].flatMap({ id in refundsRecorded.first { $0.id == id } }) {
            return try RefundPolicy.replay(recorded, of: request)
        }
        let previous = refundsRecorded.filter { $0.correlationId == request.correlationId }
        let refund: Refund
        var takeBack: RefundPolicy.TakeBack?
        if let payment = payments.first(where: { $0.correlationId == request.correlationId }) {
            if request.onlyIfUndelivered {
                let intent = claims.first(where: { $0.value.reservation.correlationId == request.correlationId }).flatMap { intents[$0.key] }
                try RefundPolicy.checkUndelivered(request, outcome: intent?.outcome, delivered: intent?.delivered ?? false)
            }
            let refunded = RefundPolicy.total(previous.filter { $0.kind == .payout }.map(\.amount))
            refund = try RefundPolicy.payout(request, of: payment, refunded: refunded, id: RefundPolicy.newId(), nowMillis: nowMillis)
            if let grant = grants[request.correlationId], let balance = balances["\(grant.clientId)/\(grant.package)"] {
                let taken = try RefundPolicy.takeBack(granted: grant.units, paid: payment.amount, refundedBefore: refunded, refund: refund, balance: balance)
                balances["\(grant.clientId)/\(grant.package)"] = taken.balance
                takeBack = taken
            }
            // All the money given back, the answer is not given again: a retry of the proof is told of the refund instead.
            if RefundPolicy.completes(refund, refunded: refunded, of: payment), let key = claims.first(where: { $0.value.reservation.correlationId == request.correlationId })?.key {
                intents[key]?.outcome = .refunded
                updated[key] = nowMillis
                if let kept = responses[key] { responses[key] = (kept.response, false) }
            }
        } else if let spent = usage[request.correlationId], spent.source == .package {
            refund = try RefundPolicy.credit(request, of: spent, credited: RefundPolicy.total(previous.filter { $0.kind == .packageCredit }.map(\.amount)),
                                             id: RefundPolicy.newId(), nowMillis: nowMillis)
            let key = "\(spent.clientId)/\(unitHolds[request.correlationId]?.hold.package ?? spent.resource)"
            balances[key] = PackageUnits.afterCredit(balance: balances[key] ?? 0, units: Int(refund.amount) ?? 0)
        } else {
            throw TollgateError(.notFound, "no payment or package spend is recorded for \(request.correlationId)")
        }
        refundsRecorded.append(refund)
        if let key = request.requestKey { refundKeys[key] = refund.id }
        write([RefundPolicy.recordedEvent(refund, takeBack: takeBack)])
        return refund
    }

    public func refunds(state: Refund.State?, correlationId: String?, limit: Int) async throws -> [Refund] {
        Array(refundsRecorded.reversed().filter { (state == nil || $0.state == state) && (correlationId == nil || $0.correlationId == correlationId) }
            .prefix(max(1, min(limit, 10_000))))
    }

    public func closeRefund(id: String, payoutTransaction: String, batch: Bool, actor: String, nowMillis: Int64) async throws -> Refund {
        let transaction = try RefundPolicy.payoutTransaction(payoutTransaction)
        guard let index = refundsRecorded.firstIndex(where: { $0.id == id }) else { throw TollgateError(.unknownRefund, "no refund \(id)") }
        let refund = try RefundPolicy.closed(refundsRecorded[index], transaction: transaction, nowMillis: nowMillis)
        try RefundPolicy.checkPayout(transaction, closing: id, settledFlows: payments.filter { $0.transaction.lowercased() == transaction }.map(\.correlationId),
                                     closedRefunds: refundsRecorded.filter { $0.payoutTransaction == transaction }.map(\.id), batch: batch)
        refundsRecorded[index] = refund
        write([RefundPolicy.payoutEvent(refund, batch: batch, actor: actor, nowMillis: nowMillis)])
        return refund
    }

    // MARK: operator controls

    private var revocations: [RevocationKind: [String: String]] = [:]
    private var incidents: [String: Incident] = [:]
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

    // MARK: audit log

    private var archives: [AuditArchiveRecord] = []
    /// Each archived range's lookup keys, by its first seq.
    private var archiveKeys: [Int64: Set<String>] = [:]
    /// The highest seq ever assigned (it survives archiving).
    private var sequence: Int64 = 0

    public func append(_ events: [AuditEvent]) async throws {
        appendAttempts += 1
        if let delay = delays[.append] { try await Task.sleep(for: delay) }
        try check(.append)
        appendCalls += 1
        write(events)
    }

    public func events(correlationId: String) async throws -> [RecordedAuditEvent] {
        if failing.contains(.events) { throw Self.failure }
        return recorded.filter { $0.event.correlationId == correlationId }
            .sorted { ($0.event.timeMillis, $0.seq) < ($1.event.timeMillis, $1.seq) }
    }

    public func auditHead() async throws -> AuditHead? { recorded.last.map { AuditHead(seq: $0.seq, hash: $0.hash) } }

    public func holds(_ head: AuditHead) async throws -> Bool? {
        head.isHeld(liveHash: recorded.first { $0.seq == head.seq }?.hash, archives: archives)
    }

    public func auditArchives() async throws -> [AuditArchiveRecord] { archives }

    public func auditArchives(holding keys: Set<String>) async throws -> [AuditArchiveRecord] {
        archives.filter { !$0.indexed || !(archiveKeys[$0.firstSeq] ?? []).isDisjoint(with: keys) }
    }

    public func indexAuditArchive(firstSeq: Int64, keys: Set<String>) async throws {
        guard let index = archives.firstIndex(where: { $0.firstSeq == firstSeq }) else {
            throw TollgateError(.notFound, "no archived range starts at seq \(firstSeq)")
        }
        archives[index].indexed = true
        archiveKeys[firstSeq, default: []].formUnion(keys)
    }

    public func auditEvents(after seq: Int64, limit: Int) async throws -> [RecordedAuditEvent] {
        Array(recorded.filter { $0.seq > seq }.prefix(limit))
    }

    public func auditEvents(stage: AuditEvent.Stage, limit: Int) async throws -> [RecordedAuditEvent] {
        Array(recorded.filter { $0.event.stage == stage }.suffix(limit))
    }

    public func auditSequenceValue() async throws -> Int64? { sequence > 0 ? sequence : nil }

    public func verifyAuditLog(archives directory: String?) async throws -> AuditVerifier.Report {
        var verifier = AuditVerifier.continuing(archives: archives, directory: directory, keys: auditKeys)
        for record in recorded { verifier.consume(record) }
        return verifier.finish(sequenceValue: sequence > 0 ? sequence : nil)
    }

    @discardableResult
    public nonisolated func exportAudit(sinceMillis: Int64, untilMillis: Int64, pageSize: Int,
                                        _ body: ([RecordedAuditEvent]) throws -> Void) async throws -> Int {
        let matching = await recorded.filter { $0.event.timeMillis >= sinceMillis && $0.event.timeMillis < untilMillis }
        for start in stride(from: 0, to: matching.count, by: max(1, pageSize)) {
            try body(Array(matching[start..<min(matching.count, start + max(1, pageSize))]))
        }
        return matching.count
    }

    public func commitAuditArchive(_ record: AuditArchiveRecord, keys: Set<String>, after anchor: AuditVerifier.Anchor) async throws {
        let range = recorded.filter { (record.firstSeq...record.lastSeq).contains($0.seq) }
        guard (archives.last?.anchor ?? .genesis) == anchor, range.count == record.eventCount, range.last?.hash == record.lastHash else {
            throw TollgateError(.concurrentChange, "seq \(record.firstSeq)…\(record.lastSeq) changed while it was being archived; nothing was deleted")
        }
        var record = record
        record.indexed = true
        archives.append(record)
        archiveKeys[record.firstSeq] = keys
        recorded.removeAll { (record.firstSeq...record.lastSeq).contains($0.seq) }
    }

    // MARK: support

    private var disputeRecords: [DisputeRecord] = []

    public func flows(matching key: TraceKey, limit: Int) async throws -> TraceMatch {
        // (correlation id, field, source) for every hit, the sources named like the SQLite tables.
        var hits: [(String, String, String)] = []
        func detail(_ name: String, _ value: String) -> [(String, String, String)] {
            recorded.filter { $0.event.details[name]?.lowercased() == value }.map { ($0.event.correlationId, name, "audit_event") }
        }
        switch key {
        case .correlationId(let id):
            if recorded.contains(where: { $0.event.correlationId == id }) { hits.append((id, "correlation id", "audit_event")) }
        case .payer(let payer):
            hits += payments.filter { $0.payer.lowercased() == payer }.map { ($0.correlationId, "payer", "payment") }
            hits += proofs.filter { $0.payer == payer }.map { (proofFlows[$0.id] ?? "", "payer", "proof_evidence") }
            hits += detail("payer", payer)
        case .hash(let value):
            hits += payments.filter { $0.transaction.lowercased() == value }.map { ($0.correlationId, "transaction", "payment") }
            hits += detail("transaction", value)
            hits += payments.filter { $0.nonce == value }.map { ($0.correlationId, "nonce", "payment") }
            hits += proofs.filter { $0.nonce == value }.map { (proofFlows[$0.id] ?? "", "nonce", "proof_evidence") }
            hits += detail("nonce", value)
        }
        var matchedAs: [String: Set<String>] = [:]
        for hit in hits { matchedAs[hit.1, default: []].insert(hit.2) }
        let last = { (id: String) in self.recorded.filter { $0.event.correlationId == id }.map(\.event.timeMillis).max() ?? 0 }
        let ids = Set(hits.map(\.0)).sorted { (last($0), $1) > (last($1), $0) }
        return TraceMatch(key: key, matchedAs: matchedAs.mapValues { $0.sorted() }, correlationIds: Array(ids.prefix(max(limit, 1))), total: ids.count)
    }

    public func openDispute(correlationId: String, reason: String, actor: String, nowMillis: Int64, archived: FlowIdentity?) async throws -> DisputeRecord {
        let reason = try DisputeRecord.validated(reason, field: "reason")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        guard let flow = flowIdentity(correlationId) ?? archived.map({ ($0.client, $0.resource) }) else { throw TollgateError(.unknownFlow, "no audit event carries the correlation id \(correlationId)") }
        if let open = disputeRecords.first(where: { $0.correlationId == correlationId && $0.state == .open }) {
            throw TollgateError(.disputeAlreadyOpen, "flow \(correlationId) already has an open dispute: \(open.id)", disputeId: open.id)
        }
        let record = DisputeRecord(id: DisputeRecord.makeId(), correlationId: correlationId, reason: reason, actor: actor, state: .open,
                                   openedAtMillis: nowMillis)
        disputeRecords.append(record)
        write([DisputeEvent.make(DisputeEvent.opened, outcome: .received, correlationId: correlationId, timeMillis: nowMillis, clientId: flow.client,
                                 resource: flow.resource, details: ["dispute_id": record.id, "reason": reason, "actor": actor])])
        return record
    }

    public func closeDispute(id: String, resolution: String, actor: String, nowMillis: Int64) async throws -> DisputeRecord {
        let resolution = try DisputeRecord.validated(resolution, field: "resolution")
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        guard let index = disputeRecords.firstIndex(where: { $0.id == id }) else { throw TollgateError(.unknownDispute, "no dispute has the id \(id)") }
        guard disputeRecords[index].state == .open else { throw TollgateError(.disputeNotOpen, "dispute \(id) was closed already", disputeId: id) }
        disputeRecords[index].state = .closed
        disputeRecords[index].closedAtMillis = nowMillis
        disputeRecords[index].closedBy = actor
        disputeRecords[index].resolution = resolution
        let record = disputeRecords[index]
        let flow = flowIdentity(record.correlationId)
        write([DisputeEvent.make(DisputeEvent.closed, outcome: .ok, correlationId: record.correlationId, timeMillis: nowMillis, clientId: flow?.client,
                                 resource: flow?.resource, details: ["dispute_id": id, "resolution": resolution, "actor": actor])])
        return record
    }

    public func disputes(state: DisputeRecord.State?, limit: Int) async throws -> [DisputeRecord] {
        Array(disputeRecords.filter { state == nil || $0.state == state }.sorted { ($0.openedAtMillis, $1.id) > ($1.openedAtMillis, $0.id) }
            .prefix(max(limit, 1)))
    }

    public func dispute(id: String) async throws -> DisputeRecord? { disputeRecords.first { $0.id == id } }

    public func disputes(correlationId: String) async throws -> [DisputeRecord] {
        disputeRecords.filter { $0.correlationId == correlationId }.sorted { ($0.openedAtMillis, $1.id) > ($1.openedAtMillis, $0.id) }
    }

    public func evidenceMaterial(correlationId: String, withoutEvents: Bool) async throws -> EvidenceMaterial? {
        let events = loggedEvents(correlationId)
        guard !events.isEmpty || withoutEvents else { return nil }
        let linked = FlowLink.links(in: events.map(\.record)).map { EvidenceMaterial.LinkedFlow(link: $0, events: loggedEvents($0.correlationId)) }
        return EvidenceMaterial(correlationId: correlationId, events: events, linked: linked,
                                proofs: proofs.filter { proofFlows[$0.id] == correlationId }, payments: payments(correlationId: correlationId),
                                refunds: refundsRecorded.filter { $0.correlationId == correlationId },
                                chainHead: recorded.last.map { .init(seq: $0.seq, hash: $0.hash) })
    }

    public func recordEvidenceExport(correlationId: String, disputeId: String?, bundleSHA256: String, actor: String, nowMillis: Int64,
                                     archived: FlowIdentity?) async throws {
        let actor = try DisputeRecord.validated(actor, field: "actor", limit: 200)
        let flow = flowIdentity(correlationId) ?? archived.map { ($0.client, $0.resource) }
        var details = ["detail": "evidence exported", "bundle_sha256": bundleSHA256, "actor": actor]
        details["dispute_id"] = disputeId
        write([DisputeEvent.make(DisputeEvent.evidenceExported, outcome: .ok, correlationId: correlationId, timeMillis: nowMillis,
                                 clientId: flow?.client, resource: flow?.resource, details: details)])
    }

    private func flowIdentity(_ correlationId: String) -> (client: String?, resource: String?)? {
        let events = recorded.filter { $0.event.correlationId == correlationId }
        guard !events.isEmpty else { return nil }
        return (events.lazy.compactMap(\.event.clientId).first, events.lazy.compactMap(\.event.resource).first)
    }

    /// A flow's events by seq, each with the hash of the event before it in the whole log (or of the archived range's end).
    private func loggedEvents(_ correlationId: String) -> [EvidenceMaterial.LoggedEvent] {
        recorded.filter { $0.event.correlationId == correlationId }.map { record in
            let before = recorded.last { $0.seq < record.seq }?.hash ?? archives.last { $0.lastSeq < record.seq }?.lastHash ?? AuditChain.genesis
            let after = recorded.first { $0.seq > record.seq }.map { EvidenceMaterial.LoggedEvent.Following(seq: $0.seq, previousHash: $0.previousHash) }
            return EvidenceMaterial.LoggedEvent(record: record, precedingHash: before, following: after)
        }
    }

    // MARK: failing on purpose

    public static let failure = TollgateError(.storeUnavailable, "the in-memory store was switched to fail")

    private func check(_ operation: Operation) throws {
        if refusesCancelledCallers { try Task.checkCancellation() }
        if failing.contains(operation) || failingOnce.remove(operation) != nil { throw Self.failure }
        writeCalls += 1
    }

    private func write(_ events: [AuditEvent]) {
        for event in events {
            let previous = recorded.last?.hash ?? archives.last?.lastHash ?? AuditChain.genesis
            sequence += 1
            let hash = AuditChain.Prepared(event).hash(previous: previous, seq: sequence, keys: auditKeys)
            recorded.append(RecordedAuditEvent(seq: sequence, event: event, previousHash: previous, hash: hash))
        }
    }
}
