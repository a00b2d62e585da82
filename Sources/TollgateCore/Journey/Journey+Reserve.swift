import HTTPTypes

/// Stage `reserve`: single use. The claim (and the offer with it) is committed before anything is forwarded.
/// A claim found on the proof is this very purchase retried (its answer or its settlement in doubt: Journey+Retry.swift;
/// or a claim a stopped process left), or a replay.
extension Journey {
    /// A claim found on the proof by `reserve`.
    struct ClaimedBefore: Sendable {
        var correlationId: String
        var state: Reservation.State
    }

    mutating func reserve(_ paid: PaidFlow, events: [AuditEvent]) -> Action {
        let proof = paid.proof
        let reservation = Reservation(key: proof.key, correlationId: flow.correlationId, clientId: paid.identity.clientId,
                                      resource: paid.route.resource, validBefore: Int64(proof.validBefore) ?? Int64.max,
                                      paymentIdentifier: proof.paymentIdentifier, fingerprint: proofDigest.map(HexString.encode) ?? "",
                                      offerToken: paid.offer.token, payload: String(decoding: proof.raw, as: UTF8.self))
        state = .reserving(paid, events: events)
        // A window too short to settle in is refused once the claim says this is a new purchase (below): the
        // facilitator is not asked meanwhile.
        let tooShort = windowTooShort(paid) != nil
        return .reserve(reservation, events: events + [event(.reserve, .ok, nil, ["proof": proof.key.description])],
                        verifyAlongside: settings.verifiesWithClaim && !tooShort ? (proof, paid.offer) : nil)
    }

    mutating func reservationBusy(_ paid: PaidFlow, events: [AuditEvent]) -> Action {
        if settings.repeatedProofs == .refused {
            // Not the rail's "already used": nothing is taken yet (the first request may still fail to settle), and a
            // paying client reads "already used" as money gone.
            let denied = event(.reserve, .denied, .paymentInProgress, ["first_correlation_id": flow.correlationId, "first_state": "in_flight",
                                                                       "proof": paid.proof.key.description])
            return finish(.refuseCopy(priced(paid), .paymentInProgress,
                                      detail: "this payment authorization is being used by an earlier request (flow \(flow.correlationId))",
                                      events: events + [denied]))
        }
        return finish(.inProgress(events: events, detail: "this payment is being processed by an earlier request; retry shortly, do not pay again"))
    }

    mutating func reserved(_ result: Result<ReservationOutcome, Failure>, _ paid: PaidFlow, events: [AuditEvent]) -> Action {
        let outcome: ReservationOutcome
        switch result {
        case .failure(let failure):
            return finish(.unavailable(.storeUnavailable, detail: "the gateway cannot record payments right now",
                                       events: events + [event(.reserve, .error, .storeUnavailable, ["detail": failure.detail])]))
        case .success(let found):
            outcome = found
        }
        switch outcome {
        case .reserved:
            // A new purchase whose authorization would close before its settlement: released, refused. Only here: a copy
            // of a proof in flight or in doubt meets the claim (busy, already claimed) and is told to wait, never a 402.
            if let detail = windowTooShort(paid) {
                let denied = event(.reserve, .denied, wire.authorizationExpired, ["detail": detail, "proof": paid.proof.key.description])
                return finish(.release(paid.proof.key, events: events + [denied], then: .refuse(
                    priced(paid), wire.authorizationExpired, detail: detail, received: nil, events: [], alreadyAudited: true)))
            }
            return verify(paid)
        case .alreadyClaimed(let first, let claimState):
            let claim = ClaimedBefore(correlationId: first, state: claimState)
            if first == flow.correlationId, claimState != .failed {
                // The same authorization for the same offer: a retry of this very purchase. This request already
                // holds it in flight (`reserve`), so no live request of this process works on the claim.
                if claimState == .reserved { return takeOver(paid, events: events) }
                return resume(Retry(paid: paid, origin: .claim(claim), claim: claimState, events: events), exclusive: false)
            }
            if [.settling, .pending, .unknown].contains(claimState) {
                // Its money may be moving: never a 402, which would make a stock client pay again.
                return finish(.inProgress(events: events, detail: "this payment authorization is being settled; retry later, do not pay again"))
            }
            return replayOrRefuse(paid, claim, events: events)
        case .identifierConflict(let first):
            return finish(.deny(Denial(
                status: .conflict, error: "conflict", stage: .respond, reason: .paymentIdentifierConflict,
                detail: "this payment-identifier was already used for a different payment (flow \(first)); nothing was charged",
                durable: true, before: events + [event(.reserve, .denied, .paymentIdentifierConflict, ["first_correlation_id": first])])))
        case .busy:
            return reservationBusy(paid, events: events)
        case .offerAlreadyUsed(let offerState) where [.reserved, .settling, .pending, .unknown].contains(offerState):
            // Another authorization paying this offer is in flight or in doubt (a client that signed again after a
            // timeout): its money may move, so never fresh terms, which a stock client would pay as well.
            let denied = event(.reserve, .denied, .offerAlreadyUsed, ["offer_state": offerState.rawValue])
            return finish(.inProgress(events: events + [denied], detail: "this offer is being paid by another authorization; send that "
                                          + "one again later, do not pay again"))
        case .offerAlreadyUsed(.settled):
            // This offer (this client, this request) was paid and settled by another authorization: fresh terms would be paid
            // by a client that lost that answer and signed again. Its answer is the first authorization's to fetch.
            return finish(.deny(Denial(
                status: .conflict, error: "conflict", stage: .respond, reason: .offerAlreadyUsed,
                detail: "this offer was already paid by another authorization, which settled: send that payment again to get its answer; "
                    + "nothing was charged for this one (ask without a payment for a fresh offer to buy again)",
                durable: true, before: events + [event(.reserve, .denied, .offerAlreadyUsed, ["offer_state": Reservation.State.settled.rawValue])])))
        case .offerAlreadyUsed(let offerState):
            return refuse(priced(paid), .offerAlreadyUsed,
                          events: events + [event(.reserve, .denied, .offerAlreadyUsed, ["offer_state": offerState.rawValue])],
                          detail: "this offer was already paid by another authorization; pay the fresh offer instead")
        }
    }

    /// A claim left by a process that stopped before asking to settle (nothing moved): this request carries it on.
    mutating func takeOver(_ paid: PaidFlow, events: [AuditEvent]) -> Action {
        state = .takingOver(paid)
        return .recordTakeover(events + [event(.reserve, .ok, Reason("claim_taken_over"), ["proof": paid.proof.key.description])])
    }

    mutating func takeoverRecorded(_ written: Bool, _ paid: PaidFlow) -> Action {
        guard written else {
            return finish(.unavailable(.storeUnavailable, detail: "the gateway cannot record payments right now", events: []))
        }
        return verify(paid)
    }

    /// A spent claim: its owner gets the stored answer, anyone else a refusal.
    mutating func replayOrRefuse(_ paid: PaidFlow, _ claim: ClaimedBefore, events: [AuditEvent]) -> Action {
        if claim.state == .settled {
            state = .loadingStored(paid, claim, events: events)
            return .loadStoredResponse(paid.proof.key)
        }
        return refuseReplay(paid, claim, events: events)
    }

    mutating func storedLoaded(_ result: Result<StoredResponse?, Failure>, _ paid: PaidFlow, _ claim: ClaimedBefore,
                               events: [AuditEvent]) -> Action {
        // An answer that cannot be read is not served: the replay is refused as if none were kept.
        if case .success(let stored?) = result, Self.isOwner(stored, of: paid) { return finish(.replayStored(stored, paid, events: events)) }
        return refuseReplay(paid, claim, events: events)
    }

    mutating func refuseReplay(_ paid: PaidFlow, _ claim: ClaimedBefore, events: [AuditEvent]) -> Action {
        // A claim whose settlement failed moved no money to the payee: "already used" would tell a paying client that it
        // paid (and should ask for a refund) when nothing was taken. Refused all the same: a claim is used once.
        let failed = claim.state == .failed
        let reason = failed ? Reason.settlementFailed : wire.authorizationUsed
        let denied = event(.reserve, .denied, reason, ["first_correlation_id": claim.correlationId,
                                                       "first_state": claim.state.rawValue, "proof": paid.proof.key.description])
        return refuse(priced(paid), reason, events: events + [denied],
                      detail: failed ? "this payment authorization's settlement failed (flow \(claim.correlationId)): nothing was taken; "
                                  + "pay with a new authorization"
                              : "this payment authorization was already used (flow \(claim.correlationId))")
    }

    /// Whether a stored answer belongs to this retry, which then gets it again, on every door (an answer lost on its
    /// way is paid for; the tool or route does not run again): the same offer (so the same client, the same request
    /// and body), the same `payment-identifier` as the first delivery, and a caller that can be recognised (an
    /// identified client, or one naming the payment): an anonymous bare replay, or a captured anonymous proof
    /// with a `payment-identifier` added, gets nothing.
    static func isOwner(_ stored: StoredResponse, of retry: PaidFlow) -> Bool {
        let recognised = retry.proof.paymentIdentifier != nil || retry.identity != .anonymous
        return recognised && stored.correlationId == retry.flow.correlationId && stored.clientId == retry.identity.clientId
            && stored.request == retry.request.requestLine && stored.paymentIdentifier == retry.proof.paymentIdentifier
    }
}
