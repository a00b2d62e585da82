/// Durable state of the gateway. SQLite and PostgreSQL implement it; one conformance suite tests both.
///
/// Every method commits before it returns. Audit events passed along are written in the same
/// transaction as the state change they describe.
public protocol TollgateStore: RefundLedger, SettlementLedger {
    /// Atomically claims a proof for single use, and the offer (its correlation id) with it.
    func reserve(_ reservation: Reservation, events: [AuditEvent]) async throws -> ReservationOutcome

    /// Gives a claimed proof back (nothing was settled), so the same proof may be presented again. False, nothing
    /// released (the events written all the same), when another process sharing the store holds the claim now: this
    /// one's lease lapsed while it was held up and the other took the claim over, and may be settling it, so the
    /// request must not be answered as refused (a 402 would have its client pay again).
    @discardableResult
    func release(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool

    /// Records the end of a paid flow: the reservation's final state and, when money moved, the ledger
    /// entry and the delivered response (for idempotent retries), in one transaction.
    /// `metering` (with a settlement only) records the usage event and any package units bought.
    /// `delivery`, when given, says the answer is being sent now: the intent is marked delivered and stamped with the token
    /// (`SettledDelivery`; stamped with none when it was delivered already, so no single loss can reopen it); the
    /// settlement intent, if any, takes the outcome of `state`.
    func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?, metering: MeteringRecord?,
                delivery: DeliveryToken?, events: [AuditEvent]) async throws

    /// Records the delivery `delivery` of a flow whose payment was settled before forwarding (`settle: before`, a
    /// redelivery), stamped as `finish` stamps one. Throws `settlementClosed`, recording nothing, when its settlement
    /// was refunded or put under review meanwhile.
    func recordDelivery(_ key: ProofKey, response: StoredResponse?, metering: MeteringRecord?, delivery: DeliveryToken,
                        events: [AuditEvent]) async throws

    /// Records that a delivered flow's kept answer is served again (its owner's retry), with `events`: delivered more than
    /// once, the flow keeps no delivery token, so the loss of an earlier delivery no longer reopens it. False, and nothing
    /// written, when the flow's settlement intent says it is no longer settled and delivered (reopened, refunded, under
    /// review meanwhile); with no intent on record (purged after its delivery) only the events are written.
    func recordReplay(_ key: ProofKey, events: [AuditEvent]) async throws -> Bool

    /// A delivery did not reach its client (the connection broke while the answer was written). While `delivery.token`
    /// is the flow's token (its one delivery since it was last undelivered) and it is settled and delivered, the flow
    /// becomes settled and undelivered again, so the reconciler refunds it unless a retry of the same proof gets the kept answer first
    /// (`deliverSettled`); otherwise nothing changes. Reopened, the flow keeps no delivery token, and it is `keptForOwner`
    /// as `ReopenedDelivery.reopened` decides (`keepForOwner`, the answer kept for it unexpired at `nowSeconds`, no
    /// package bought); any other reopened flow's kept answer is withdrawn. The events for the outcome are written in the
    /// same transaction, whatever it is.
    func reopenDelivery(_ delivery: SettledDelivery, keepForOwner: Bool, nowSeconds: Int64, events: @escaping @Sendable (ReopenedDelivery) -> [AuditEvent]) async throws
        -> ReopenedDelivery

    /// Sets units aside from a package balance for a prepaid request; never lets the balance go below zero.
    func holdUnits(_ hold: UnitHold, events: [AuditEvent]) async throws -> UnitHoldOutcome

    /// Ends a prepaid request: `consumed` units are spent (held units not consumed go back to the balance;
    /// consumption beyond the hold is spent only as far as the balance allows) and `usage` is recorded
    /// when given. Idempotent per correlation id.
    func finishUnits(correlationId: String, consumed: Int, usage: UsageEvent?, events: [AuditEvent]) async throws

    /// The state of the claim on a proof, if it has one.
    func reservationState(_ key: ProofKey) async throws -> Reservation.State?

    /// The delivered response stored under a proof, if it has not expired.
    func storedResponse(_ key: ProofKey, now unixSeconds: Int64) async throws -> StoredResponse?

    /// Holds spend against caps for the flow `correlationId`, all or nothing. Returns the first hold that
    /// would exceed its cap (nothing is held then). Holds are committed when `finish` records a settlement,
    /// released by `release` and by `finish` with `.failed`, and kept while the outcome is unknown.
    func holdSpend(_ holds: [SpendHold], correlationId: String) async throws -> SpendHold?

    /// Appends audit events.
    func append(_ events: [AuditEvent]) async throws

    /// The events of one flow in the order they happened (unpaid-path events are written in batches, so
    /// their sequence numbers may come after later paid-path events).
    func events(correlationId: String) async throws -> [RecordedAuditEvent]

    /// Deletes reservations whose proofs expired before `unixSeconds` and are not settled or in doubt. A claim still
    /// `reserved` was abandoned (its request stopped before `/settle`, and its release was never written): the spend
    /// it held goes back to its caps, with a `claim_lapsed` event in its flow (`StoreRetention.lapsedClaimEvent`).
    func purgeReservations(expiredBefore unixSeconds: Int64) async throws -> Int

    /// Gives back the units of prepaid requests that never finished: holds still `held` that were taken before
    /// `heldBeforeMillis` return to their balances and become `lapsed`, each with a `units_lapsed` event in its flow
    /// (`PackageUnits.lapsedEvent`). A late `finishUnits` of a lapsed hold still spends what it consumed. Returns how
    /// many holds were given back.
    func lapseUnitHolds(heldBeforeMillis: Int64) async throws -> Int

    /// How often the claims this process works on are renewed (`renewClaims`) for the other processes sharing the store
    /// to see them as live; nil for a store one process uses alone, where the in-flight lock says it.
    var claimRenewalInterval: Duration? { get }

    /// Renews the leases of the claims of `keys` this process holds: another process takes a claim over (or gives its
    /// settlement up as abandoned) only once its lease is older than the store's grace period. Claims another process
    /// took over are left alone.
    func renewClaims(_ keys: [ProofKey]) async throws

    /// Ends this process's own claim with a state that moves no money (`failed`, `unknown`, `pending`: what the journey's
    /// own `/settle` was answered), as `finish` without a payment. False, and only the events written, when another
    /// process sharing the store holds the claim now (it took the claim over while this one was held up): that process
    /// resolves it, and what this one was told (the authorization used: that process's `/settle` landing) says nothing
    /// about whether money moved.
    func finishOwnClaim(_ key: ProofKey, state: Reservation.State, events: [AuditEvent]) async throws -> Bool

    /// Makes the claim of `key` this process's before it resolves the claim's settlement (the reconciler sends `/settle`
    /// again): true when the claim is this process's now (its own, a lapsed one taken over, or none); false when another
    /// process holds it with a live lease. A process held up past the grace then finds the claim is not its own any more
    /// (`finishOwnClaim`). The lease is left as it was: taking a claim is no sign of a request working on it, so a retry
    /// reaching another instance still carries the purchase on.
    func takeClaim(_ key: ProofKey) async throws -> Bool

    /// Whether another process holds the claim of `key` with a live lease (a request there works on it), read without
    /// changing who owns it: a late copy of a proof asks, and waits rather than get fresh terms.
    func isClaimLeasedElsewhere(_ key: ProofKey) async throws -> Bool

    /// This process stops working on its claim of `key` without ending it (the reconciler resolved the settlement and
    /// leaves its delivery to the client's retry): nobody holds it then, so a retry at any process carries it on at once
    /// rather than waiting out the lease the resolution's write stamped.
    func leaveClaim(_ key: ProofKey) async throws
}

extension TollgateStore {
    public var claimRenewalInterval: Duration? { nil }

    public func renewClaims(_ keys: [ProofKey]) async throws {}

    /// One process uses the store: the claim is always its own.
    public func finishOwnClaim(_ key: ProofKey, state: Reservation.State, events: [AuditEvent]) async throws -> Bool {
        try await finish(key, state: state, payment: nil, events: events)
        return true
    }

    public func takeClaim(_ key: ProofKey) async throws -> Bool { true }

    public func isClaimLeasedElsewhere(_ key: ProofKey) async throws -> Bool { false }

    public func leaveClaim(_ key: ProofKey) async throws {}

    public func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, events: [AuditEvent]) async throws {
        try await finish(key, state: state, payment: payment, response: nil, metering: nil, delivery: nil, events: events)
    }

    public func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                       events: [AuditEvent]) async throws {
        try await finish(key, state: state, payment: payment, response: response, metering: nil, delivery: response != nil ? .next() : nil,
                         events: events)
    }

    public func finish(_ key: ProofKey, state: Reservation.State, payment: PaymentRecord?, response: StoredResponse?,
                       metering: MeteringRecord?, events: [AuditEvent]) async throws {
        try await finish(key, state: state, payment: payment, response: response, metering: metering,
                         delivery: response != nil || metering != nil ? .next() : nil, events: events)
    }
}

/// A single-use claim of a proof.
public struct Reservation: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, Codable {
        case reserved
        /// The intent to settle is recorded and `/settle` is (or was) being sent by a live request.
        case settling
        case settled
        /// Settlement submitted, not final: the proof stays claimed.
        case pending
        /// The facilitator refused to settle: the authorization is spent or void.
        case failed
        /// The settlement call failed: whether money moved is unknown, so the proof stays claimed.
        case unknown

        /// Whether a request may be working on a claim in this state: claimed, settling, or settled with a settlement
        /// (neither refunded nor under review) not yet delivered (`settle: before` runs its upstream call then). Another
        /// process's live lease on such a claim makes a copy wait and a reconciler leave it.
        public func isLive(undeliveredSettlement: Bool) -> Bool {
            self == .reserved || self == .settling || self == .settled && undeliveredSettlement
        }
    }

    public var key: ProofKey
    public var correlationId: String
    public var clientId: String
    public var resource: String
    /// The proof's `validBefore` (Unix seconds), after which the reservation may be purged.
    public var validBefore: Int64
    /// The client's `payment-identifier` and a digest of the proof it names: the same identifier with another proof is
    /// a conflict, unless it continues the purchase the identifier names (`conflictsWithIdentifier(recordedAs:for:)`).
    public var paymentIdentifier: String?
    public var fingerprint: String
    /// Kept as dispute evidence: the signed offer the proof echoed and the proof as received (decoded JSON).
    public var offerToken: String
    public var payload: String

    public init(key: ProofKey, correlationId: String, clientId: String, resource: String, validBefore: Int64,
                paymentIdentifier: String? = nil, fingerprint: String = "", offerToken: String = "", payload: String = "") {
        self.offerToken = offerToken
        self.payload = payload
        self.paymentIdentifier = paymentIdentifier
        self.fingerprint = fingerprint
        self.key = key
        self.correlationId = correlationId
        self.clientId = clientId
        self.resource = resource
        self.validBefore = validBefore
    }

    /// Whether this reservation's payment identifier, recorded before with the proof digest `fingerprint` for the flow
    /// `correlationId`, names another purchase. Not when the proof is the one recorded, nor when a proof spelt otherwise
    /// pays the same offer (the same flow): the same authorization re-encoded (then `reserve` finds its claim: the
    /// purchase's retry) or one signed again after the first was released with nothing charged (then the offer's single
    /// use decides). Another offer under the same identifier is another payload: a conflict.
    public func conflictsWithIdentifier(recordedAs fingerprint: String, for correlationId: String) -> Bool {
        fingerprint != self.fingerprint && correlationId != self.correlationId
    }
}

public enum ReservationOutcome: Sendable, Hashable {
    case reserved
    /// The proof was claimed before, by the flow with this correlation id.
    case alreadyClaimed(correlationId: String, state: Reservation.State)
    /// Another proof already paid (or is paying) this offer: one offer buys one delivery.
    case offerAlreadyUsed(state: Reservation.State)
    /// The client used this `payment-identifier` for a different payment (flow `correlationId`).
    case identifierConflict(correlationId: String)
    /// Another gateway instance sharing the store is working on this claim right now (it wrote it lately): the
    /// request is answered as if this instance's own in-flight lock were held (`Journey.reservationBusy`), never taken
    /// over. Only a store shared by several instances returns it.
    case busy(correlationId: String)
}

/// A ledger entry of money received.
public struct PaymentRecord: Sendable, Hashable, Codable {
    public var correlationId: String
    public var rail: String
    public var network: String
    public var asset: String
    public var payer: String
    public var payee: String
    public var amount: String
    public var nonce: String
    public var transaction: String
    public var clientId: String
    public var resource: String
    public var unit: String
    public var quantity: Int
    public var settledAtMillis: Int64
    /// SHA-256 (hex) of the body delivered for this payment.
    public var bodySHA256: String

    public init(correlationId: String, rail: String, network: String, asset: String, payer: String, payee: String, amount: String,
                nonce: String, transaction: String, clientId: String, resource: String, unit: String, quantity: Int, settledAtMillis: Int64,
                bodySHA256: String = "") {
        self.bodySHA256 = bodySHA256
        self.correlationId = correlationId
        self.rail = rail
        self.network = network
        self.asset = asset
        self.payer = payer
        self.payee = payee
        self.amount = amount
        self.nonce = nonce
        self.transaction = transaction
        self.clientId = clientId
        self.resource = resource
        self.unit = unit
        self.quantity = quantity
        self.settledAtMillis = settledAtMillis
    }
}

/// How long a store keeps what it no longer needs, and what it may forget; `purgeReservations` applies it.
public enum StoreRetention {
    /// A client's `payment-identifier` is remembered this long after its first use.
    public static let paymentIdentifierSeconds: Int64 = 86_400

    /// Reservations in these states may be purged once their proof has expired: nothing moved, or it never can.
    public static let purgeableStates: Set<Reservation.State> = [.reserved, .failed]

    /// How many expired claims one purge transaction takes (a purge runs as many as it needs): after an outage there
    /// may be many abandoned claims, each giving its holds back, and the store's writer serves paid requests meanwhile.
    public static let purgeBatch = 200

    /// Runs `batch` (one transaction taking at most `purgeBatch` rows) until one takes fewer; how many were taken.
    public static func inBatches(_ batch: () async throws -> Int) async throws -> Int {
        var total = 0
        while true {
            let taken = try await batch()
            total += taken
            if taken < purgeBatch { return total }
        }
    }

    /// The audit event of an abandoned claim that `purgeReservations` deletes, in its own flow.
    public static func lapsedClaimEvent(correlationId: String, clientId: String, resource: String, atMillis: Int64) -> AuditEvent {
        AuditEvent(correlationId: correlationId, timeMillis: atMillis, stage: .reserve, outcome: .ok, reason: Reason.claimLapsed.rawValue,
                   clientId: clientId, resource: resource,
                   details: ["detail": "the claim was never settled and its authorization has expired; the spend it held went back to its caps"])
    }

    /// Claims in these states may be released (no `/settle` was sent for them).
    public static let releasableStates: Set<Reservation.State> = [.reserved, .settling]

    /// Whether a settlement intent is resolved (and may be purged once old): settled and delivered, failed or refunded.
    public static func isResolved(_ outcome: OpenSettlement.Outcome, delivered: Bool) -> Bool {
        (outcome == .settled && delivered) || outcome == .failed || outcome == .refunded
    }

    /// The outcome an intent takes when its reservation ends in `state`; nil leaves it as it is.
    public static func intentOutcome(_ state: Reservation.State?) -> OpenSettlement.Outcome? {
        switch state {
        case .settled: .settled
        case .failed: .failed
        default: nil
        }
    }
}
