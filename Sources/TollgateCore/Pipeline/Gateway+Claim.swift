/// The claim of a proof and the facilitator's verification of it, apart or at once (`Settings.verifiesWithClaim`).
extension Gateway {
    /// A facilitator's answer obtained while the claim was committed, kept for the machine's `verifyWithFacilitator`
    /// of the same proof, with how long it was waited for.
    struct EarlyVerdict: Sendable {
        let key: ProofKey
        let input: Journey.Input
        let waited: Duration
    }

    /// What a claim is remembered under (`claimedLately`, by its hash: a collision only means one verification after
    /// the claim instead of alongside it): the authorization, and the offer it pays.
    enum ClaimedLately: Hashable, Sendable {
        case authorization(ProofKey)
        case offer(correlationId: String)
    }

    func claim(_ reservation: Reservation, events: [AuditEvent]) async -> Journey.Input {
        do {
            return .reserved(.success(try await store.reserve(reservation, events: events)))
        } catch {
            return .reserved(.failure(Journey.Failure(error)))
        }
    }

    func verifyWithFacilitator(_ proof: PaymentProof, offer: SignedOffer) async -> Journey.Input {
        do {
            return .facilitatorAnswered(.success(try await rail.verify(proof, offer: offer, logger: logger)))
        } catch {
            return .facilitatorAnswered(.failure(Journey.Failure(error)))
        }
    }

    /// Claims `reservation` and, unless its authorization or its offer was claimed lately (by any request of this
    /// gateway), asks the facilitator to verify the proof at the same time. Both are awaited (a verification is never
    /// cancelled half way, which would count against the facilitator's circuit breaker); nothing is forwarded before the
    /// machine has both answers.
    func claim(_ reservation: Reservation, events: [AuditEvent], verifying alongside: (proof: PaymentProof, offer: SignedOffer)?)
        async -> (Journey.Input, EarlyVerdict?) {
        let now = clock.nowSecondsPrecise
        guard let alongside, claimedLately.value(for: ClaimedLately.authorization(reservation.key).hashValue, now: now) == nil,
              claimedLately.value(for: ClaimedLately.offer(correlationId: reservation.correlationId).hashValue, now: now) == nil else {
            return (remembered(await claim(reservation, events: events), reservation, now: now), nil)
        }
        async let verdict = timedVerification(alongside.proof, offer: alongside.offer)
        let claimed = await claim(reservation, events: events)
        let (input, waited) = await verdict
        return (remembered(claimed, reservation, now: now), EarlyVerdict(key: reservation.key, input: input, waited: waited))
    }

    private func timedVerification(_ proof: PaymentProof, offer: SignedOffer) async -> (Journey.Input, Duration) {
        let begun = ContinuousClock.now
        let input = await verifyWithFacilitator(proof, offer: offer)
        return (input, ContinuousClock.now - begun)
    }

    /// Remembers what the claim found, so the next claims of the same authorization (a replay, a copy, a retry) or of
    /// the same offer (another authorization for an offer already paid) run without a verification alongside: only
    /// the first claim of a fresh offer is worth verifying early, and an attacker needs a fresh offer (an unpaid
    /// request, rate-limited) for each verification it causes, as when verification follows the claim.
    private func remembered(_ claimed: Journey.Input, _ reservation: Reservation, now: Double) -> Journey.Input {
        if case .reserved(.success) = claimed {
            claimedLately.remember(ClaimedLately.authorization(reservation.key).hashValue, (), now: now)
            claimedLately.remember(ClaimedLately.offer(correlationId: reservation.correlationId).hashValue, (), now: now)
        }
        return claimed
    }
}
