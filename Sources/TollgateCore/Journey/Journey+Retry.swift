import Crypto
import HTTPTypes

/// Stage `reserve`, continued: the same proof for the same offer (so the same client and the same request)
/// presented again while its claim is not finished. Its settlement is in doubt (a crash, a timeout, a pending
/// answer) or its answer was lost. The settlement is read and, while open, resolved (`Gateway.resolve`, shared with
/// the reconciler); then its outcome decides: still open waits (503), refused is a fresh 402, refunded or under
/// review is a 502 naming the refund, settled gives the answer prepared with the intent, or forwards the request
/// again under the same correlation id, or (work that must not run twice) refunds it. Never a fresh 402 while money
/// may be moving (stock clients sign and pay again), and a read that fails is a 503: a guess could serve a refusal
/// to someone who paid, or run the work twice.
///
/// A late retry (its offer or authorization expired since) is the same purchase when the proof's claim belongs to
/// this offer and the proof held when the claim was made: its stored answer and its settlement are looked up before
/// the proof is refused, and the settlement decides as for any retry (the kept answer alone only once its settlement
/// was purged after delivery).
extension Journey {
    /// A retry of a claim of this very purchase.
    struct Retry: Sendable {
        var paid: PaidFlow
        var origin: Origin
        /// The claim's state when the retry began.
        var claim: Reservation.State
        /// The flow's events not yet committed.
        var events: [AuditEvent]
        /// The answer kept for this purchase, found by a late retry before its settlement is read.
        var kept: StoredResponse? = nil
        /// The settlement changed under it once (a delivery refused, a refund or review found it settled elsewhere):
        /// read again, and a second change is a 503, never a loop.
        var deliveryRefused = false

        /// Where a retry came from, and so where it goes when there is nothing to resume.
        enum Origin: Sendable {
            /// `reserve` found the claim of this purchase: a spent claim is answered as any replay.
            case claim(ClaimedBefore)
            /// An expired offer or authorization: refused as it was unless the claim is resumed.
            case late(Refusal)
        }
    }

    /// A refusal of a proof that may still be a late retry of its own purchase.
    struct Refusal: Sendable {
        var reason: Reason
        var detail: String
        var received: [String: String]
    }

    // MARK: late retries

    /// An expired offer or authorization may still be the retry of its own purchase (its answer was lost, or its
    /// settlement is in doubt): its stored answer is looked for first.
    mutating func lookUpLateRetry(_ paid: PaidFlow, _ refusal: Refusal) -> Action {
        // The claim's state is known once its settlement is read; until then there is nothing to resume.
        state = .lookingUpLateAnswer(Retry(paid: paid, origin: .late(refusal), claim: .reserved, events: []))
        return .loadStoredResponse(paid.proof.key)
    }

    mutating func lateAnswerLoaded(_ result: Result<StoredResponse?, Failure>, _ retry: Retry) -> Action {
        switch result {
        case .failure: return unreadable(retry.events)
        case .success(let stored):
            // Its own answer is served only as the settlement allows: one settled but never delivered (resolved after the
            // client gave up) is recorded delivered first, or the reconciler would refund an answer that was served.
            var retry = retry
            retry.kept = stored.flatMap { Self.isOwner($0, of: retry.paid) ? $0 : nil }
            state = .lookingUpLateSettlement(retry)
            return .lookUpSettlement(retry.paid.proof.key, exclusive: false)
        }
    }

    mutating func lateSettlementLookedUp(_ result: Result<OpenSettlement?, Failure>, _ retry: Retry) -> Action {
        switch result {
        case .failure: return unreadable(retry.events)
        case .success(let open?) where open.intent.correlationId == retry.paid.flow.correlationId:
            // Its own claim: the proof must have held when that claim was made (checked as of the intent).
            var retry = retry
            retry.claim = open.state
            state = .checkingLateProof(retry)
            return .verifyLocally(retry.paid.proof, retry.paid.offer.offer, atSeconds: open.intent.createdAtMillis / 1000)
        case .success:
            // No intent of its own (purged an hour after it was delivered): the answer kept for its owner is served again.
            if let kept = retry.kept { return finish(.replayStored(kept, retry.paid, events: retry.events)) }
            // Nor an answer: the claim on the proof still says whether it was spent.
            state = .checkingLateClaim(retry)
            return .lookUpClaim(retry.paid.proof.key)
        }
    }

    /// A late proof with no settlement of its own on record: a spent authorization is refused as used (it paid), one
    /// in doubt or still worked on waits (`reservationBusy`: a live request holds its `reserved` claim), and only one that
    /// never moved money is refused as it was (expired, or its terms changed).
    mutating func lateClaimLookedUp(_ result: Result<Reservation.State?, Failure>, _ retry: Retry) -> Action {
        switch result {
        case .failure:
            return unreadable(retry.events)
        case .success(.settled?):
            let denied = event(.reserve, .denied, wire.authorizationUsed, ["first_state": Reservation.State.settled.rawValue,
                                                                       "proof": retry.paid.proof.key.description])
            return refuse(priced(retry.paid), wire.authorizationUsed, events: retry.events + [denied],
                          detail: "this payment authorization was already used")
        case .success(let claim?) where [.settling, .pending, .unknown].contains(claim):
            return finish(.inProgress(events: retry.events, detail: "this payment authorization is being settled; retry later, do not pay again"))
        case .success:
            return nothingToResume(retry)
        }
    }

    mutating func lateProofChecked(_ verdict: Verdict, _ retry: Retry) -> Action {
        guard verdict.acceptedPayer != nil else { return nothingToResume(retry) }
        // A redelivery names the payer to the upstream as the first delivery did.
        var retry = retry
        retry.paid.spellPayer(as: verdict)
        // Nothing holds this authorization yet: it is taken in flight before the settlement is read again.
        return resume(retry, exclusive: true)
    }

    // MARK: the settlement in doubt

    /// Reads the claim's settlement; `exclusive` first takes the authorization in flight (a claim found by
    /// `reserve` is held already), so no live request of this process works on it meanwhile.
    mutating func resume(_ retry: Retry, exclusive: Bool) -> Action {
        state = .lookingUpSettlement(retry)
        return .lookUpSettlement(retry.paid.proof.key, exclusive: exclusive)
    }

    mutating func settlementLookedUp(_ result: Result<OpenSettlement?, Failure>, receipt: HTTPFields, _ retry: Retry) -> Action {
        // Claimed by a process that stopped before asking to settle: nothing moved, there is nothing to resume.
        if retry.claim == .reserved { return nothingToResume(retry) }
        switch result {
        case .failure:
            return unreadable(retry.events)
        case .success(nil):
            // No intent: a claim from before intents were recorded, or a settled claim of the ordinary kind.
            if [.settling, .pending, .unknown].contains(retry.claim) {
                return finish(.inProgress(events: retry.events, detail: "this payment's settlement is not confirmed yet; retry later, do not pay again"))
            }
            return nothingToResume(retry)
        case .success(let open?) where open.leasedElsewhere:
            // A live request at another instance works on it (its `/settle` out, or its settled work running): a late
            // retry reaches here without `reserve`, whose lease rule would have made it wait; it waits here instead,
            // neither settling again nor refunding or serving what that request is delivering.
            return finish(.inProgress(events: retry.events, detail: Self.processedElsewhere))
        case .success(let open?) where open.outcome == .open:
            state = .resolving(retry)
            return .resolve(open, actor: "retry")
        case .success(let open?):
            return decide(open, receipt: receipt, retry)
        }
    }

    /// What a settlement's outcome means for its retry.
    mutating func decide(_ open: OpenSettlement, receipt: HTTPFields, _ retry: Retry) -> Action {
        switch open.outcome {
        case .open:
            return finish(.inProgress(events: retry.events, detail: "this payment's settlement could not be confirmed yet; it is held for "
                                          + "reconciliation; send the same proof again later, do not pay again"))
        case .failed:
            return refuse(priced(retry.paid), .settlementFailed, events: retry.events,
                          detail: "the settlement of this authorization was refused; nothing was charged")
        case .refunded, .review:
            return lookUpRefund(open, retry)
        case .settled where open.delivered:
            // Spent and delivered: its owner gets the kept answer, anyone else (a late retry included) is told the
            // authorization was used, never that it expired: a client told "expired" would sign and pay again.
            return replayOrRefuse(retry.paid, ClaimedBefore(correlationId: open.intent.correlationId, state: .settled), events: retry.events)
        case .settled:
            state = .loadingPrepared(retry, open, receipt: receipt)
            return .loadStoredResponse(retry.paid.proof.key)
        }
    }

    /// What a request is told while another instance of the gateway works on its payment (it took the claim over, or its
    /// lease is live): wait, never pay again.
    static let processedElsewhere = "this payment is being processed by another instance of the gateway; send the same proof again "
        + "shortly, do not pay again"

    /// Whether the retry of a settled, undelivered purchase may be given its answer (or have its request run again). Not an
    /// anonymous caller's retry of a purchase bound to its request alone (a proof that echoes no offer: x402 v1, which has
    /// no `payment-identifier`): everything that names it (the authorization, public on chain once it settled, and a
    /// request line anyone can guess) can be rebuilt by a third party, who would get the answer first and leave the payer
    /// a 402. Such a purchase is refunded to its payer instead (or listed for review). A v2 proof echoes the signed offer,
    /// whose correlation id only the paying client saw; an identified client or a named payment is recognised.
    static func mayReceiveUndelivered(_ retry: PaidFlow, echoesOffers: Bool) -> Bool {
        echoesOffers || retry.identity != .anonymous || retry.proof.paymentIdentifier != nil
    }

    /// Settled, not delivered: the answer prepared with the intent (made available by the resolution), else the
    /// request forwarded again, else (work that must not run twice) a refund or the operator's review.
    mutating func preparedLoaded(_ result: Result<StoredResponse?, Failure>, _ retry: Retry, _ open: OpenSettlement, receipt: HTTPFields) -> Action {
        guard case .success(let stored) = result else { return unreadable(retry.events) }
        guard Self.mayReceiveUndelivered(retry.paid, echoesOffers: wire.echoesOffers) else {
            var retry = retry
            retry.events.append(event(.reserve, .denied, Reason("retry_not_recognised"), [
                "detail": "an anonymous purchase bound to its request alone: refunded to its payer rather than delivered to whoever asks first",
            ]))
            state = .closingUndelivered(retry, open)
            return .refundOrReview(open, actor: "retry")
        }
        if let stored, stored.correlationId == retry.paid.flow.correlationId {
            // Filtered for this client first: one that cannot be served to it now (its private fields cannot be
            // removed) is never delivered, so it is refunded or listed for review, as work that must not run twice.
            let paid = retry.paid, answer: UpstreamResponse
            switch DeliveryFilter.privateFields(stored.answer, route: paid.route, identity: paid.identity, flow: flow, atMillis: nowMillis) {
            case .success(let (filtered, _)):
                answer = filtered
            case .failure(let refusal):
                var retry = retry
                retry.events += refusal.events
                state = .closingUndelivered(retry, open)
                return .refundOrReview(open, actor: "retry")
            }
            // Delivered once, to this retry: the delivery is recorded before it is served.
            var events = retry.events
            events.append(event(.reserve, .ok, Reason("settlement_resolved"), ["transaction": open.transaction ?? ""]))
            events.append(event(.respond, .ok, .delivered, [
                "status": String(stored.status), "settled": "true", "source": "prepared_answer",
                "body_sha256": HexString.encode(SHA256.hash(data: stored.body)), "bytes": String(stored.body.count),
            ]))
            state = .markingDelivered(answer, retry)
            return .markDelivered(open.intent.key, retry.paid.delivery, events: events)
        }
        guard open.intent.redeliverable else {
            state = .closingUndelivered(retry, open)
            return .refundOrReview(open, actor: "retry")
        }
        // The upstream sees the same `Tollgate-Correlation-Id` and can tell it is the same purchase.
        var retry = retry
        retry.events.append(event(.reserve, .ok, Reason("redelivery"), ["transaction": open.transaction ?? ""]))
        state = .redelivering(retry, receipt: receipt)
        return .forward(retry.paid.contract(atSeconds: nowMillis / 1000))
    }

    mutating func markedDelivered(_ result: Result<Bool, Failure>, _ answer: UpstreamResponse, _ retry: Retry) -> Action {
        switch result {
        case .failure:
            return finish(.deny(Denial(status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .storeUnavailable,
                                       detail: "the gateway cannot record this delivery right now; retry later")))
        case .success(true):
            return finish(.replayResolved(answer, retry.paid))
        case .success(false):
            // Refunded or put under review since it was read (the reconciler, an operator, another instance): the answer
            // is not served; the settlement read again says what became of the payment.
            guard !retry.deliveryRefused else { return unreadable(retry.events) }
            var retry = retry
            retry.deliveryRefused = true
            return resume(retry, exclusive: false)
        }
    }

    /// The answer of a redelivery, judged as a first delivery is (moment of consumption, private fields).
    mutating func redelivered(_ delivery: PaidDelivery, _ retry: Retry, receipt: HTTPFields) -> Action {
        let paid = retry.paid
        switch delivery {
        case .failed(let answer, let reason, let detail, let events):
            // Still settled and undelivered: the client may retry again; the reconciler refunds it in the end.
            let failed = events + [event(.respond, .denied, reason, ["settled": "true", "redelivery": "failed"])]
            if let answer { return finish(.commit(failed, then: .passedOn(answer, paid.route, paid.identity, extra: [:]))) }
            return finish(.commit(failed, then: .deny(Denial(
                status: .badGateway, error: "bad_gateway", stage: .respond, reason: reason,
                detail: "\(detail); the payment is settled: send the same proof again later, do not pay again", durable: true))))
        case .delivered(let answer, let consumed, let events):
            return recordDelivery(answer, consumed: consumed, events: events, paid, receipt: receipt, unrecorded: .deny(Denial(
                status: .serviceUnavailable, error: "service_unavailable", stage: .respond, reason: .storeUnavailable,
                detail: "the payment is settled but the delivery could not be recorded; retry later")))
        }
    }

    // MARK: settled, never to be delivered

    /// Refunded or listed for review: the refund is looked up. Delivered or refunded meanwhile elsewhere: the settlement
    /// read again says which (once; a second change is a 503).
    mutating func closedUndelivered(_ changedMeanwhile: Bool, _ retry: Retry, _ open: OpenSettlement) -> Action {
        guard changedMeanwhile else { return lookUpRefund(open, retry) }
        guard !retry.deliveryRefused else { return unreadable(retry.events) }
        var retry = retry
        retry.deliveryRefused = true
        return resume(retry, exclusive: false)
    }

    mutating func lookUpRefund(_ open: OpenSettlement, _ retry: Retry) -> Action {
        state = .lookingUpRefund(retry, open)
        return .lookUpRefund(correlationId: open.intent.correlationId)
    }

    /// A settled payment that will not be delivered: its refund, or the review it waits for.
    mutating func refundLookedUp(_ result: Result<Refund?, Failure>, _ retry: Retry, _ open: OpenSettlement) -> Action {
        guard case .success(let refund) = result else { return unreadable(retry.events) }
        let owed = refund.map { "refund \($0.id) (\($0.amount) \($0.asset)) is recorded" } ?? "it is held for review by the operator; support can trace this flow"
        var fields = HTTPFields()
        if let refund { fields[.tollgateRefund] = refund.id }
        return finish(.commit(retry.events, then: .deny(Denial(
            status: .badGateway, error: "bad_gateway", stage: .respond, reason: Reason("not_delivered"),
            detail: "the payment settled (\(open.transaction ?? "transaction unknown")) but its answer was lost and this request must not run twice; \(owed)",
            extra: ["refund_id": refund?.id ?? ""], durable: true, fields: fields))))
    }

    // MARK: endings

    /// Nothing to resume (the claim is spent, or nothing of it is this purchase's): a claim found by `reserve` is
    /// answered as any replay (its owner's stored answer, or a refusal); a late retry is refused as it was.
    mutating func nothingToResume(_ retry: Retry) -> Action {
        switch retry.origin {
        case .claim(let claim): return replayOrRefuse(retry.paid, claim, events: retry.events)
        case .late(let refusal): return refuse(priced(retry.paid), refusal.reason, received: refusal.received, detail: refusal.detail)
        }
    }

    /// A read the retry depends on failed.
    mutating func unreadable(_ events: [AuditEvent]) -> Action {
        finish(.unavailable(.storeUnavailable, detail: "the gateway cannot read this payment's state right now; retry later", events: events))
    }
}
