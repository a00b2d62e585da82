import HTTPTypes

/// Stage `proof`: what the request carries. No proof: the package balance, else a 402 (within the unpaid budget).
/// An undecodable proof: counted against the invalid-proof budget and answered with a 402. A proof: within the
/// paid budget, on to the offer check.
extension Journey {
    mutating func refusedProofLookedUp(_ known: Reason?, _ priced: Priced) -> Action {
        // The same bytes refused moments ago are refused again without decoding or verifying them.
        if let known {
            return finish(.refuse(priced, known, detail: "this proof was refused moments ago (\(known)); it was not checked again",
                                  received: nil, events: [], alreadyAudited: false))
        }
        state = .decodingProof(priced)
        return .decodeProof
    }

    mutating func proofDecoded(_ decoding: ProofDecoding, _ priced: Priced) -> Action {
        switch decoding {
        case .absent:
            if let package = priced.pricing.metering.package, case .client(let client) = priced.identity {
                return spendPackage(Prepaid(priced: priced, package: package, client: client))
            }
            return admitUnpaid(priced, detail: nil)
        case .malformed(let reason, let detail):
            return finish(.refuseMalformed(priced, reason, detail: detail))
        case .proof(let proof):
            state = .admittingProof(priced, proof)
            return .admit(LimitProbe(trafficClass: .paid, resource: priced.route.resource, keys: flow.limitKeys))
        }
    }

    mutating func admitUnpaid(_ priced: Priced, detail: String?) -> Action {
        state = .admittingUnpaid(priced, detail: detail)
        return .admit(LimitProbe(trafficClass: .unpaid, resource: priced.route.resource, keys: flow.limitKeys))
    }

    mutating func unpaidAdmitted(_ refusal: TrafficLimits.Refusal?, _ priced: Priced, detail: String?) -> Action {
        if let refusal { return finish(.tooMany(refusal)) }
        return finish(.offer(priced, reason: .paymentRequired, detail: detail))
    }

    mutating func proofAdmitted(_ refusal: TrafficLimits.Refusal?, _ priced: Priced, _ proof: PaymentProof) -> Action {
        if let refusal { return finish(.tooMany(refusal)) }
        return checkOffer(priced, proof)
    }
}
