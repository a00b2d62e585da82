import TollgateConfiguration
import TollgateCore
import TollgateX402

extension FlowDerivation {
    func admitInvalid() -> FlowStep {
        let cache = configuration.limits.invalidProofCacheSeconds
        return FlowStep(id: "admit_invalid", title: "invalid-proof budget", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                        checks: ["a caller out of invalid-proof budget is refused before its proof is decoded",
                                 "the same proof bytes refused moments ago are refused again from the negative cache, unverified"],
                        configuration: limitLabels("invalid")
                            + [cache == 0 ? "invalid-proof cache off" : "invalid-proof cache \(cache) s (up to 50000 proofs)"],
                        refusals: ["429 rate_limited_invalid", "402 with the cached reason (fresh offer)"],
                        audit: [AuditSignal("admit", "denied", "rate_limited_invalid"),
                                AuditSignal("verify", "denied", nil, note: "the reason first given")])
    }

    func decode() -> FlowStep {
        FlowStep(id: "decode", title: "decode", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                 checks: ["PAYMENT-SIGNATURE ≤ 16 KiB, base64 JSON, x402 v2, payment-identifier format",
                          "every refusal counts against the invalid budget and gets a fresh offer"],
                 refusals: ["402 invalid_payload", "402 invalid_x402_version", "402 payment_header_too_large"],
                 audit: [AuditSignal("proof", "denied", "invalid_payload"), AuditSignal("proof", "denied", "invalid_x402_version"),
                         AuditSignal("proof", "denied", "payment_header_too_large"), AuditSignal("offer", "issued", nil, note: "the refusal reason")])
    }

    func admitPaid() -> FlowStep {
        FlowStep(id: "admit_paid", title: "admit (paid)", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                 checks: ["GCRA per client id and IP prefix for requests carrying a proof"],
                 configuration: limitLabels("paid"), refusals: ["429 rate_limited_paid"],
                 audit: [AuditSignal("admit", "denied", "rate_limited_paid")])
    }

    func offerCheck() -> FlowStep {
        let keys = configuration.secrets.map(\.id)
        let reasons = ["offer_missing", "offer_invalid", "offer_expired", "offer_client_mismatch", "offer_resource_mismatch", "offer_terms_mismatch"]
        return FlowStep(id: "offer_check", title: "offer check", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                        checks: ["the echoed offer's MAC (key id), expiry, client, exact request, and terms equal to the offer and the current price"],
                        configuration: ["verifying keys: \(keys.joined(separator: ", ")) (the first signs)"],
                        refusals: reasons.map { "402 \($0)" },
                        audit: [AuditSignal("proof", "received")] + reasons.map { AuditSignal("verify", "denied", $0) })
    }

    func localVerify() -> FlowStep {
        let assets = configuration.assets.filter { asset in networks.contains { $0.assets.contains(asset.id) } }
            .map { "\($0.id): \($0.eip712Name)/\($0.eip712Version), \($0.decimals) decimals, \($0.address)" }
        let reasons = ["invalid_scheme", "invalid_network", "invalid_payload", "invalid_exact_evm_payload_recipient_mismatch",
                       "invalid_exact_evm_payload_authorization_value_mismatch", "invalid_exact_evm_payload_authorization_valid_after",
                       "invalid_exact_evm_payload_authorization_valid_before", "invalid_exact_evm_payload_signature"]
        return FlowStep(id: "local_verify", title: "local verification", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                        checks: ["exact scheme, chain id, to == payTo, value == amount, validAfter ≤ now, validBefore ≥ now + 6 s",
                                 "EIP-712 digest and secp256k1 recovery equal to from, with the token domain from the configuration"],
                        configuration: assets, refusals: reasons.map { "402 \($0)" },
                        audit: reasons.map { AuditSignal("verify", "denied", $0) } + [AuditSignal("verify", "ok")])
    }

    func payerLists() -> FlowStep {
        var labels: [String] = []
        if let allow = configuration.payerAllowList {
            labels.append("payers.allow: only \(allow.count) address(es)")
        } else {
            labels.append("any payer address (no allow list)")
        }
        labels.append("payers.deny: \(configuration.payerDenyList.count) address(es)")
        labels.append(configuration.admin == nil ? "runtime revocations: none possible without the admin listener"
            : "runtime revocations: tollgate admin revoke --payer")
        return FlowStep(id: "payer_lists", title: "payer allow / deny / revocation", lane: .proof, owner: .operator, active: hasPaidRoutes,
                        checks: ["the signature proved the address: revoked, denied, or outside the allow list → refused before any store write or facilitator call"],
                        configuration: labels, refusals: ["403 payer_revoked (nothing charged)"],
                        audit: [AuditSignal("proof", "received"), AuditSignal("decide", "denied", "payer_revoked")])
    }

    func admitPayer() -> FlowStep {
        FlowStep(id: "admit_payer", title: "admit (per payer)", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                 checks: ["the paid limit again, counted per payer address (never for an unverified claim)"],
                 configuration: limitLabels("paid", perPayer: true), refusals: ["429 rate_limited_paid"],
                 audit: [AuditSignal("admit", "denied", "rate_limited_paid")])
    }

    func reserve() -> FlowStep {
        FlowStep(id: "reserve", title: "reserve (single use)", lane: .proof, owner: .gateway, active: hasPaidRoutes,
                 checks: ["a facilitator is ready for the network (else 503 before any write)",
                          "atomic single-use claim of (network, asset, payer, nonce) and of the offer, committed before forwarding",
                          "same identified client, same proof, same request within the idempotency window → the stored response",
                          "payment-identifier: same id and payload → the stored response; another payload → 409"],
                 configuration: ["SQLite \(configuration.sqlitePath)",
                                 "idempotency window \(DesignNumber.seconds(configuration.idempotencyWindowSeconds)), responses ≤ 1 MiB kept",
                                 "paid-path audit events committed with the claim"],
                 refusals: ["503 facilitator_unavailable", "402 invalid_exact_evm_nonce_already_used", "402 offer_already_used",
                            "409 offer_already_used (paid and settled by another authorization)", "409 payment_identifier_conflict", "503 store_unavailable"],
                 audit: [AuditSignal("facilitator_verify", "error", "facilitator_unavailable"), AuditSignal("respond", "denied", "facilitator_unavailable"),
                         AuditSignal("reserve", "ok"),
                         AuditSignal("reserve", "denied", "invalid_exact_evm_nonce_already_used"), AuditSignal("reserve", "denied", "offer_already_used"),
                         AuditSignal("reserve", "denied", "payment_identifier_conflict"), AuditSignal("reserve", "ok", "idempotent_retry"),
                         AuditSignal("respond", "denied", "payment_identifier_conflict"), AuditSignal("respond", "ok", "stored_response"),
                         AuditSignal("reserve", "error", "store_unavailable"), AuditSignal("respond", "denied", "store_unavailable")])
    }

    func facilitatorVerify() -> FlowStep {
        FlowStep(id: "facilitator_verify", title: "facilitator verify", lane: .proof, owner: .facilitator, active: hasPaidRoutes,
                 checks: ["/verify (balance, on-chain nonce) on the network's facilitators in order",
                          "a transport failure moves on to the next; a breaker takes a failing one out of rotation"],
                 configuration: facilitatorLabels(),
                 refusals: ["402 with the facilitator's reason (reservation released)", "503 facilitator_unavailable + Retry-After"],
                 audit: [AuditSignal("facilitator_verify", "ok"), AuditSignal("facilitator_verify", "denied", nil, note: "the facilitator's invalidReason"),
                         AuditSignal("facilitator_verify", "error", "facilitator_unavailable"), AuditSignal("respond", "denied", "facilitator_unavailable")])
    }

    func spendCaps() -> FlowStep {
        var labels = configuration.spendCaps.map { cap -> String in
            let (asset, decimals) = assetName(network: cap.network, address: cap.asset)
            return "spend cap \(cap.maximum.decimalString(decimals: decimals)) \(asset) per \(cap.subject.rawValue) per \(cap.period.rawValue)"
        }
        labels += configuration.quotas.map { "quota \($0.maximum) \($0.unit) per \($0.subject.rawValue) per \($0.period.rawValue)" }
        let active = hasPaidRoutes && !labels.isEmpty
        return FlowStep(id: "spend_caps", title: "spend caps / quotas", lane: .proof, owner: .gateway, active: active,
                        checks: ["the amount held against every matching spend cap and the units against every quota, atomically",
                                 "committed on settlement, released when nothing is charged"],
                        configuration: labels.isEmpty ? ["no spend caps or quotas"] : labels,
                        refusals: ["403 spend_cap_exceeded", "403 quota_exceeded", "503 store_unavailable"],
                        audit: [AuditSignal("decide", "denied", "spend_cap_exceeded"), AuditSignal("respond", "denied", "spend_cap_exceeded"),
                                AuditSignal("decide", "denied", "quota_exceeded"), AuditSignal("respond", "denied", "quota_exceeded"),
                                AuditSignal("decide", "error", "store_unavailable"), AuditSignal("respond", "denied", "store_unavailable")])
    }
}
