import HTTPTypes

/// Stage `facilitator_verify`: the rail's authority confirms the proof. A refusal gives the claim back and
/// answers with a fresh 402; no answer gives the claim back and answers 503 (never free access).
extension Journey {
    mutating func verify(_ paid: PaidFlow) -> Action {
        state = .verifying(paid)
        return .verifyWithFacilitator(paid.proof, paid.offer)
    }

    mutating func facilitatorAnswered(_ result: Result<Verdict, Failure>, _ paid: PaidFlow) -> Action {
        switch result {
        case .failure(let failure):
            return finish(.release(paid.proof.key, events: [], then: .unavailable(
                .facilitatorUnavailable, detail: "payment verification is unavailable; retry later",
                events: [event(.facilitatorVerify, .error, .facilitatorUnavailable, ["detail": failure.detail])])))
        case .success(.invalid(let reason, let detail)):
            return finish(.release(paid.proof.key, events: [event(.facilitatorVerify, .denied, reason, ["detail": detail])],
                                   then: .refuse(priced(paid), reason, detail: detail, received: nil, events: [], alreadyAudited: true)))
        case .success(.valid), .success(.signatureDeferred):
            return holdSpend(paid, events: [event(.facilitatorVerify, .ok)])
        }
    }
}
