import HTTPTypes

/// The journey of one request as a value-type state machine (docs/architecture.md, "The journey").
///
/// The machine decides; it performs no I/O. Each input method takes what just happened (the request arrived,
/// the identity was resolved, the store answered the reservation, the facilitator gave its verdict, the
/// upstream answered…) and returns the next `Action` for its driver (`Gateway.handle`) to perform. The driver
/// feeds the result back through the matching input method, until the action is `.respond`. One file per
/// stage (`Journey+<Stage>.swift`); `JourneyStage.all` lists the stages for `trace`, `design` and the docs.
///
/// Calling an input method the current state does not expect is a driver bug: the machine answers with a
/// 500-free refusal (`unexpectedInput`) rather than trapping, so a door never crashes.
struct Journey: Sendable {
    /// The gateway's settings, shared by reference: a journey starts per request and must not copy them.
    let policy: Gateway.SharedSettings
    var settings: Gateway.Settings { policy.settings }
    /// The request as the stages have shaped it: normalised target, then its body once read.
    var request: GatewayRequest
    /// Correlation id, client, resource and limit keys of this flow as they become known.
    var flow: Flow
    var state: State = .arrived
    /// When the request arrived (Unix seconds, fractional): rate-limit windows and offer expiry are judged at it.
    let arrival: Double
    /// A digest of the proof as sent, from the rail its header chose; nil without a proof.
    let proofDigest: [UInt8]?
    /// The chosen rail's wire vocabulary: its reasons for a used and for an expired authorization.
    let wire: RailWire
    /// The time of the input being handled (Unix milliseconds): the machine reads no clock of its own.
    private(set) var nowMillis: Int64
    /// The token this request stamps on a settled answer it delivers or serves again (`SettledDelivery`).
    let delivery: DeliveryToken

    init(request: GatewayRequest, settings: Gateway.SharedSettings, correlationId: String, arrivalMillis: Int64, proofDigest: [UInt8]?,
         wire: RailWire, delivery: DeliveryToken = .next()) {
        self.wire = wire
        self.delivery = delivery
        self.request = request
        self.policy = settings
        self.flow = Flow(correlationId: correlationId, now: arrivalMillis)
        self.arrival = Double(arrivalMillis) / 1000
        self.proofDigest = proofDigest
        self.nowMillis = arrivalMillis
        flow.proofDigest = proofDigest
    }

    /// Everything that can happen to a request, as its driver reports it.
    enum Input: Sendable {
        case arrived
        /// The caller as resolved, whether its client is revoked, and the incident in force on the route's resource.
        case identified(ClientDirectory.Outcome, clientRevoked: Bool, incident: String?)
        case limitsPeeked(TrafficLimits.Refusal?)
        /// The body, or why it could not be read (too large).
        case bodyRead(Result<[UInt8], Failure>)
        case refusedProofLookedUp(Reason?)
        indirect case proofDecoded(ProofDecoding)
        /// The units set aside from the package balance, or why not.
        case unitsHeld(Result<UnitHoldOutcome, Failure>)
        /// Whether the spend of the held units was recorded.
        case unitsSpent(Bool)
        case admitted(TrafficLimits.Refusal?)
        case verifiedLocally(Verdict)
        case payerChecked(PayerStanding)
        case reserved(Result<ReservationOutcome, Failure>)
        /// Another request of this process is handling the same authorization now.
        case reservationBusy
        /// The answer stored under the proof (nil when there is none or it expired), or why it could not be read.
        case storedLoaded(Result<StoredResponse?, Failure>)
        /// The settlement intent recorded for the proof (nil when there is none), with the rail's receipt for it
        /// when it is settled; or why it could not be read.
        indirect case settlementLookedUp(Result<OpenSettlement?, Failure>, receipt: HTTPFields)
        /// The settlement in doubt after asking again (`Gateway.resolve` recorded what it found), with its receipt when settled.
        indirect case resolved(OpenSettlement, receipt: HTTPFields)
        /// A settled payment that will not be delivered was refunded or listed for review; or neither, as it was
        /// delivered, refunded or listed for review meanwhile elsewhere (`changedMeanwhile`).
        case refundedOrReviewed(changedMeanwhile: Bool)
        /// The refund recorded for a flow (nil when there is none), or why it could not be read.
        case refundLookedUp(Result<Refund?, Failure>)
        /// The state of the claim on a proof (nil when there is none), or why it could not be read.
        case claimLookedUp(Result<Reservation.State?, Failure>)
        case takeoverRecorded(Bool)
        case facilitatorAnswered(Result<Verdict, Failure>)
        case spendHeld(Result<SpendHold?, Failure>)
        /// The upstream's answer and how long it took, or why there was none.
        case upstreamAnswered(Result<UpstreamResponse, Failure>, elapsedMillis: Int64)
        /// How `/settle` went (or why it was not sent), and the rail's receipt fields when it settled.
        case settleAnswered(SettleOutcome, receipt: HTTPFields)
        /// The refund recorded for a settled request that was not delivered; nil when automatic refunds are off.
        case refunded(Result<Refund, Failure>?)
        case recorded(Bool)
        /// Whether the delivery of a settled payment was recorded (false: it is no longer settled, refunded or under
        /// review meanwhile), or why it could not be.
        case deliveryMarked(Result<Bool, Failure>)
        /// The delivery of work that ran after settlement was refused: the payment was refunded or put under review
        /// meanwhile (`settlementClosed`).
        case deliveryClosed(detail: String)
    }

    /// Why an input could not be obtained (the store, the facilitator or the door failed).
    struct Failure: Error, Sendable {
        var detail: String
        init(_ detail: String) { self.detail = detail }
        init(_ error: any Error) { detail = "\(error)" }
    }

    /// What the operator's controls say about a payer.
    struct PayerStanding: Sendable {
        /// Revoked, on the deny list, or missing from the allow list.
        var refused: Bool
        /// The payer's own paid budget ran out.
        var limited: TrafficLimits.Refusal?
        /// Whether the rail can verify and settle on the proof's network now.
        var railReady: Bool
    }

    /// Handles one input at time `millis` and says what to do next.
    mutating func next(_ input: Input, at millis: Int64) -> Action {
        nowMillis = millis
        switch (input, state) {
        case (.arrived, .arrived): return arrived()
        case (.identified(let outcome, let revoked, let incident), .identifying(let route)):
            return identified(outcome, clientRevoked: revoked, incident: incident, route: route)
        case (.limitsPeeked(let refusal), .checkingAdmission(let admitted)): return limitsPeeked(refusal, admitted)
        case (.bodyRead(let result), .readingBody(let after)): return bodyRead(result, then: after)
        case (.refusedProofLookedUp(let known), .checkingRefusedProof(let priced)): return refusedProofLookedUp(known, priced)
        case (.proofDecoded(let decoding), .decodingProof(let priced)): return proofDecoded(decoding, priced)
        case (.admitted(let refusal), .admittingPackage(let prepaid)): return packageAdmitted(refusal, prepaid)
        case (.unitsHeld(let result), .holdingUnits(let prepaid)): return unitsHeld(result, prepaid)
        case (.upstreamAnswered(let result, let elapsed), .forwardingPrepaid(let prepaid, let remaining)):
            return prepaidAnswered(result, elapsedMillis: elapsed, prepaid, remaining: remaining)
        case (.unitsSpent(let written), .spendingUnits(let answer, let unrecorded)): return finish(written ? answer : unrecorded)
        case (.admitted(let refusal), .admittingUnpaid(let priced, let detail)): return unpaidAdmitted(refusal, priced, detail: detail)
        case (.admitted(let refusal), .admittingProof(let priced, let proof)): return proofAdmitted(refusal, priced, proof)
        case (.verifiedLocally(let verdict), .verifyingLocally(let paid, let received)): return verifiedLocally(verdict, paid, received: received)
        case (.payerChecked(let standing), .checkingPayer(let paid, let received)): return payerChecked(standing, paid, received: received)
        case (.reserved(let result), .reserving(let paid, let events)): return reserved(result, paid, events: events)
        case (.reservationBusy, .reserving(let paid, let events)): return reservationBusy(paid, events: events)
        case (.storedLoaded(let result), .loadingStored(let paid, let claim, let events)): return storedLoaded(result, paid, claim, events: events)
        case (.takeoverRecorded(let written), .takingOver(let paid)): return takeoverRecorded(written, paid)
        case (.facilitatorAnswered(let result), .verifying(let paid)): return facilitatorAnswered(result, paid)
        case (.spendHeld(let result), .holdingSpend(let paid, let events)): return spendHeld(result, paid, events: events)
        case (.upstreamAnswered(let result, let elapsed), .forwarding(let paid, let events)):
            return forwarded(paid.judge(result, elapsedMillis: elapsed, atMillis: nowMillis, events: events), paid)
        case (.settleAnswered(let outcome, let receipt), .settling(let paid, let delivered, let events)):
            return settleAnswered(outcome, receipt: receipt, paid, delivered, events: events, resettled: false)
        case (.settleAnswered(let outcome, let receipt), .resettling(let paid, let delivered, let events)):
            return settleAnswered(outcome, receipt: receipt, paid, delivered, events: events, resettled: true)
        case (.recorded(let written), .recording(let response, let transaction, _)): return recorded(written, response, transaction: transaction)
        case (.deliveryClosed(let detail), .recording(_, _, let ran)): return deliveryClosed(detail, ran: ran)
        case (.recorded(let written), .recordingSettlement(let paid, let settlement)): return settlementRecorded(written, paid, settlement)
        case (.upstreamAnswered(let result, let elapsed), .forwardingSettled(let paid, let settlement)):
            return forwardedSettled(paid.judge(result, elapsedMillis: elapsed, atMillis: nowMillis, events: []), paid, settlement)
        case (.refunded(let refund), .refunding(let paid, let settlement, let failure)): return refunded(refund, paid, settlement, failure)
        case (.recorded(let written), .recordingDelivery(let response, let unrecorded, _)): return finish(written ? .delivered(response) : unrecorded)
        case (.deliveryClosed(let detail), .recordingDelivery(_, _, let ran)): return deliveryClosed(detail, ran: ran)
        case (.storedLoaded(let result), .lookingUpLateAnswer(let retry)): return lateAnswerLoaded(result, retry)
        case (.settlementLookedUp(let result, _), .lookingUpLateSettlement(let retry)): return lateSettlementLookedUp(result, retry)
        case (.claimLookedUp(let result), .checkingLateClaim(let retry)): return lateClaimLookedUp(result, retry)
        case (.reservationBusy, .checkingLateClaim(let retry)): return reservationBusy(retry.paid, events: retry.events)
        case (.verifiedLocally(let verdict), .checkingLateProof(let retry)): return lateProofChecked(verdict, retry)
        case (.reservationBusy, .lookingUpSettlement(let retry)): return reservationBusy(retry.paid, events: retry.events)
        case (.settlementLookedUp(let result, let receipt), .lookingUpSettlement(let retry)): return settlementLookedUp(result, receipt: receipt, retry)
        case (.resolved(let open, let receipt), .resolving(let retry)): return decide(open, receipt: receipt, retry)
        case (.storedLoaded(let result), .loadingPrepared(let retry, let open, let receipt)): return preparedLoaded(result, retry, open, receipt: receipt)
        case (.refundedOrReviewed(let changed), .closingUndelivered(let retry, let open)): return closedUndelivered(changed, retry, open)
        case (.refundLookedUp(let result), .lookingUpRefund(let retry, let open)): return refundLookedUp(result, retry, open)
        case (.upstreamAnswered(let result, let elapsed), .redelivering(let retry, let receipt)):
            return redelivered(retry.paid.judge(result, elapsedMillis: elapsed, atMillis: nowMillis, events: retry.events), retry, receipt: receipt)
        case (.deliveryMarked(let result), .markingDelivered(let answer, let retry)): return markedDelivered(result, answer, retry)
        default: return unexpectedInput("\(input) in \(state)")
        }
    }

    var arrivalSeconds: Int64 { Int64(arrival) }

    enum State: Sendable {
        case arrived
        case identifying(Route)
        case checkingAdmission(Admitted)
        case readingBody(AfterBody)
        case checkingRefusedProof(Priced)
        case decodingProof(Priced)
        indirect case admittingPackage(Prepaid)
        indirect case holdingUnits(Prepaid)
        indirect case forwardingPrepaid(Prepaid, remaining: Int)
        /// The answer, and the one to give if the spend cannot be recorded.
        indirect case spendingUnits(Answer, unrecorded: Answer)
        case admittingUnpaid(Priced, detail: String?)
        indirect case admittingProof(Priced, PaymentProof)
        indirect case verifyingLocally(PaidFlow, received: [String: String])
        indirect case checkingPayer(PaidFlow, received: [String: String])
        indirect case reserving(PaidFlow, events: [AuditEvent])
        indirect case loadingStored(PaidFlow, ClaimedBefore, events: [AuditEvent])
        indirect case takingOver(PaidFlow)
        indirect case verifying(PaidFlow)
        indirect case holdingSpend(PaidFlow, events: [AuditEvent])
        indirect case forwarding(PaidFlow, events: [AuditEvent])
        /// `/settle` sent (the answer already produced, or nil with `settle: before`).
        indirect case settling(PaidFlow, Delivered?, events: [AuditEvent])
        /// A pending settlement asked once more.
        indirect case resettling(PaidFlow, Delivered?, events: [AuditEvent])
        /// The settlement and the delivery are being recorded (`settle: after`). `ran`: the events up to the settlement,
        /// kept should the delivery be refused (the payment was refunded meanwhile).
        indirect case recording(GatewayResponse, transaction: String, ran: [AuditEvent])
        /// `settle: before`: the settlement is being recorded, then the request forwarded, then its delivery recorded.
        indirect case recordingSettlement(PaidFlow, Settled)
        indirect case forwardingSettled(PaidFlow, Settled)
        indirect case refunding(PaidFlow, Settled, NotDelivered)
        /// The delivery of a settled payment is being recorded; the answer to give if it cannot be.
        /// `ran`: the events of the work itself (forwarded, filtered), kept should the delivery be refused.
        indirect case recordingDelivery(GatewayResponse, unrecorded: Answer, ran: [AuditEvent])
        // A retry of a claim in doubt or whose answer was lost (Journey+Retry.swift): a late retry's stored answer,
        // its settlement and its proof at the time of the intent are looked up first.
        indirect case lookingUpLateAnswer(Retry)
        indirect case lookingUpLateSettlement(Retry)
        indirect case checkingLateProof(Retry)
        /// The settlement is read (a late retry takes the authorization in flight first), then resolved when open.
        indirect case lookingUpSettlement(Retry)
        indirect case resolving(Retry)
        /// Settled and undelivered: the answer prepared with the intent is looked for.
        indirect case loadingPrepared(Retry, OpenSettlement, receipt: HTTPFields)
        indirect case closingUndelivered(Retry, OpenSettlement)
        indirect case lookingUpRefund(Retry, OpenSettlement)
        indirect case checkingLateClaim(Retry)
        indirect case redelivering(Retry, receipt: HTTPFields)
        /// The prepared answer's delivery is being recorded.
        indirect case markingDelivered(UpstreamResponse, Retry)
        case done
    }

    /// An identified, authorized request on a paid route.
    struct Admitted: Sendable {
        var route: Route
        var identity: Identity
        var configured: Route.Pricing
    }

    /// A request priced for the units it asks for.
    struct Priced: Sendable {
        var route: Route
        var identity: Identity
        var pricing: Route.Pricing
    }

    /// A request on a package route with no proof, from a client that may hold a balance.
    struct Prepaid: Sendable {
        var priced: Priced
        var package: Metering.Package
        var client: ClientRecord
    }

    /// What follows reading the body.
    enum AfterBody: Sendable {
        case passThrough(Route?, Identity)
        case price(Admitted)
    }

    /// What the driver does next.
    enum Action: Sendable {
        /// Resolve the caller (API key or token); answer with `identified`.
        case identify
        /// Ask the rate limiters, without spending, whether any of these budgets is exhausted (first refusal wins); `limitsPeeked`.
        case peekLimits([LimitProbe])
        /// Read the body (bounded by the door); `bodyRead`.
        case readBody
        /// Ask the negative cache about these proof bytes; `refusedProofLookedUp`.
        case lookUpRefusedProof([UInt8])
        /// Let the chosen rail decode the proof; `proofDecoded`.
        case decodeProof
        /// Set units aside from the client's package balance (never below zero); `unitsHeld`.
        case holdUnits(UnitHold, events: [AuditEvent])
        /// End a prepaid request: spend `consumed` held units (the rest go back), record the usage; `unitsSpent`.
        case finishUnits(correlationId: String, consumed: Int, usage: UsageEvent?, events: [AuditEvent])
        /// Spend one request of a rate-limit budget; `admitted`.
        case admit(LimitProbe)
        /// Check the proof against the offer with no network (signature, amount, payee, window), as of `atSeconds`
        /// (nil: now); `verifiedLocally`.
        indirect case verifyLocally(PaymentProof, Offer, atSeconds: Int64?)
        /// Whether this payer may pay (revocations, allow and deny lists), its own paid budget, and whether the
        /// rail can verify on the proof's network now; `payerChecked`. A payer whose signature was not checked yet
        /// (`signatureChecked` false: anyone can name any smart wallet) spends no budget of the payer's.
        case checkPayer(payer: String, network: String, signatureChecked: Bool)
        /// Claim the proof for single use, committing the events with the claim; `reserved`. With `verifyAlongside`,
        /// the rail's authority may be asked to verify that proof at the same time; its answer is then the one the
        /// next `verifyWithFacilitator` of the same proof gets.
        indirect case reserve(Reservation, events: [AuditEvent], verifyAlongside: (proof: PaymentProof, offer: SignedOffer)?)
        /// Read the answer stored under the proof; `storedLoaded`.
        case loadStoredResponse(ProofKey)
        /// Read the settlement intent of the proof; when `exclusive`, first take the authorization in flight for this
        /// request (`reservationBusy` when another request of this process holds it); `settlementLookedUp`.
        case lookUpSettlement(ProofKey, exclusive: Bool)
        /// Ask again how a settlement in doubt went, and record it (`Gateway.resolve`, shared with the reconciler); `resolved`.
        indirect case resolve(OpenSettlement, actor: String)
        /// Refund a settled payment that will not be delivered where a transaction proves it, else list it for review; `refundedOrReviewed`.
        indirect case refundOrReview(OpenSettlement, actor: String)
        /// Read the refund recorded for this flow; `refundLookedUp`.
        case lookUpRefund(correlationId: String)
        /// Read the state of the claim on this proof; `claimLookedUp`, or `reservationBusy` when the claim is `reserved`
        /// and a live request works on it (one of this process holding it in flight, or another process's live lease).
        case lookUpClaim(ProofKey)
        /// Commit the events of taking over a claim a stopped process left; `takeoverRecorded`.
        case recordTakeover([AuditEvent])
        /// Ask the rail's authority to verify; `facilitatorAnswered`.
        indirect case verifyWithFacilitator(PaymentProof, SignedOffer)
        /// Hold spend against caps and quotas, all or nothing; `spendHeld`.
        case holdSpend([SpendHold], correlationId: String)
        /// Send the paid request upstream under this contract; `upstreamAnswered`.
        case forward(ContractSigner.Contract)
        /// Settle: unless the incident switch is on for the route's resource, send `/settle`, committing the intent
        /// (this one with the attempt filled in; the events with the first attempt only) before each attempt; `settleAnswered`.
        indirect case settle(PaidFlow, intent: SettlementIntent, events: [AuditEvent])
        /// Send exactly this attempt again (a pending settlement); `settleAnswered`.
        case resettle(SettlementAttempt)
        /// Record the delivery of a payment settled before it was forwarded (`settle: before`, a redelivery); `recorded`.
        indirect case recordDelivery(ProofKey, StoredResponse?, MeteringRecord, DeliveryToken, events: [AuditEvent])
        /// Record that the answer prepared with a settlement now resolved is delivered, with the events, only while it is
        /// still settled; `deliveryMarked`.
        case markDelivered(ProofKey, DeliveryToken, events: [AuditEvent])
        /// Commit the events, then record the refund when one is asked for; `refunded`.
        case refund(RefundRequest?, events: [AuditEvent])
        /// Record the settled payment in one transaction: with its delivery (the answer kept for retries, the usage), or,
        /// with `settle: before`, before forwarding (no delivery); `recorded`.
        indirect case record(ProofKey, PaymentRecord, StoredResponse?, MeteringRecord?, delivery: DeliveryToken?, events: [AuditEvent])
        /// The journey ends with this answer.
        case respond(Answer)
    }

    /// How a journey ends.
    enum Answer: Sendable {
        /// A refusal that is not about payment (audited, JSON body, no terms).
        case deny(Denial)
        /// A 429 for the budget that ran out.
        case tooMany(TrafficLimits.Refusal)
        /// A 402 with fresh terms.
        case offer(Priced, reason: Reason, detail: String?)
        /// A refused proof: it counts against the invalid-proof budget, is remembered, audited, and a fresh 402 follows.
        case refuse(Priced, Reason, detail: String, received: [String: String]?, events: [AuditEvent], alreadyAudited: Bool)
        /// A copy of a proof another request is using (`RepeatedProofs.refused`): audited, a fresh 402 under a
        /// new flow, not counted against the invalid-proof budget (the proof is valid; the paid budget admitted it).
        case refuseCopy(Priced, Reason, detail: String, events: [AuditEvent])
        /// A proof that could not be decoded: counted, remembered, audited, then a 402.
        case refuseMalformed(Priced, Reason, detail: String)
        /// A free request (or one no route matches, with `unmatched: pass`) forwarded as it is.
        case passThrough(Route?, Identity)
        /// A 503 on the paid path, its events committed first.
        case unavailable(Reason, detail: String, events: [AuditEvent])
        /// A 503 for a payment that is being processed: never a 402, which would make a client pay twice.
        case inProgress(events: [AuditEvent], detail: String)
        /// The stored answer of this purchase, for its owner retrying.
        indirect case replayStored(StoredResponse, PaidFlow, events: [AuditEvent])
        /// The answer prepared before a settlement resolved by this retry, its delivery recorded: served as settled.
        indirect case replayResolved(UpstreamResponse, PaidFlow)
        /// Give the claim back (nothing was charged), then answer.
        indirect case release(ProofKey, events: [AuditEvent], then: Answer)
        /// An upstream answer that was not delivered as paid, passed on as it is (filtered), with extra fields.
        case passedOn(UpstreamResponse, Route, Identity, extra: HTTPFields)
        /// The settled, recorded answer with its receipt.
        case delivered(GatewayResponse)
        /// The payment settled but it (or its delivery) could not be recorded: nothing unrecorded is served.
        case notRecorded(transaction: String, delivery: Bool)
        /// End the claim in this state (no payment recorded), then answer.
        indirect case finishClaim(ProofKey, Reservation.State, events: [AuditEvent], then: Answer)
        /// The facilitator refused to settle: a 402 with the rail's receipt, no body.
        case settlementRefused(receipt: HTTPFields)
        /// Commit these events, then answer.
        indirect case commit([AuditEvent], then: Answer)
    }

    /// A refusal off the payment terms (400, 401, 403, 404, 409, 413, 502, 503).
    struct Denial: Sendable {
        var status: HTTPResponse.Status
        var error: String
        var stage: AuditEvent.Stage
        var reason: Reason
        var detail: String
        var extra: [String: String] = [:]
        var durable = false
        /// Events of this flow recorded with the refusal, before it (durably when the refusal is).
        var before: [AuditEvent] = []
        /// Fields added to the answer (`Tollgate-Refund`).
        var fields: HTTPFields = [:]
    }

    /// One rate-limit budget to consult.
    struct LimitProbe: Sendable, Hashable {
        var trafficClass: TrafficClass
        var resource: String
        var keys: [LimitKey]
    }

    mutating func deny(_ status: HTTPResponse.Status, _ error: String, _ stage: AuditEvent.Stage, _ reason: Reason, detail: String,
                       extra: [String: String] = [:], durable: Bool = false) -> Action {
        finish(.deny(Denial(status: status, error: error, stage: stage, reason: reason, detail: detail, extra: extra, durable: durable)))
    }

    mutating func finish(_ answer: Answer) -> Action {
        state = .done
        return .respond(answer)
    }

    /// The answer to an input the current state does not expect (a driver bug): a 503 that blames nobody.
    mutating func unexpectedInput(_ input: String) -> Action {
        deny(.serviceUnavailable, "service_unavailable", .respond, Reason("unexpected_input"),
             detail: "the gateway lost track of this request (\(input)); retry", durable: false)
    }

    /// An audit event of this flow, stamped with the time of the input being handled.
    func event(_ stage: AuditEvent.Stage, _ outcome: AuditEvent.Outcome, _ reason: Reason? = nil,
               _ details: [String: String] = [:]) -> AuditEvent {
        AuditEvent(correlationId: flow.correlationId, timeMillis: nowMillis, stage: stage, outcome: outcome, reason: reason?.rawValue,
                   clientId: flow.clientId, resource: flow.resource, details: details)
    }
}
