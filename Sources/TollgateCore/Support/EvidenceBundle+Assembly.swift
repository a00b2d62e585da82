import Crypto
import Foundation

extension EvidenceBundle {
    /// Builds and seals the bundle of `material`'s flow. `offers` checks the offer tokens' MACs
    /// (nil leaves `macVerified` empty); each event's hash is recomputed (`AuditChain.expectedHash`, keyed links with
    /// `auditKeys`; a keyed link without its key does not recompute). `archiveProblems`: archive files the flow's
    /// archived events were read from that are missing, unreadable or changed since they were archived
    /// (`AuditArchiveSearch.Found.problems`): noted, and the chain is then not intact (an archived event deleted between
    /// other flows' events breaks only their links, so the file's digest is what shows it).
    public static func assemble(_ material: EvidenceMaterial, dispute: DisputeRecord?, offers: OfferSigner?, auditKeys: KeyRing? = nil,
                                archiveProblems: [String] = [],
                                generatedAtMillis: Int64) throws -> EvidenceBundle {
        let flowEvents = material.events.map(\.record)
        let settled = material.payments.last
        // The proof that paid, or else the latest one presented.
        let primary = material.proofs.last { $0.nonce == settled?.nonce } ?? material.proofs.last
        var notes: [String] = []

        // An unkeyed hash after a keyed one (the row before it, or an earlier event here) was written without the key.
        var keyedSeen = false
        let chain = (material.events + material.linked.flatMap(\.events))
            .reduce(into: [Int64: EvidenceMaterial.LoggedEvent]()) { $0[$1.record.seq] = $1 }
            .values.sorted { $0.record.seq < $1.record.seq }
            .map { logged in
                let record = logged.record
                keyedSeen = keyedSeen || logged.precedingHash.hasPrefix(AuditChain.keyedPrefix)
                let isKeyed = record.hash.hasPrefix(AuditChain.keyedPrefix)
                let recomputes = AuditChain.expectedHash(of: record, keys: auditKeys).map { ConstantTime.equal($0, record.hash) } ?? false
                defer { keyedSeen = keyedSeen || isKeyed }
                return ChainEntry(seq: record.seq, correlationId: record.event.correlationId, stage: record.event.stage.rawValue,
                                  outcome: record.event.outcome.rawValue, prevHash: record.previousHash, hash: record.hash,
                                  recomputed: recomputes && (isKeyed || !keyedSeen),
                                  linked: record.previousHash == logged.precedingHash && logged.linksForward)
            }
        let edited = chain.filter { !$0.recomputed }.map { String($0.seq) }
        if !edited.isEmpty {
            notes.append("audit event(s) \(edited.joined(separator: ", ")) do not recompute: they were changed after they were written")
        }
        let unlinked = chain.filter { !$0.linked }.map { String($0.seq) }
        if !unlinked.isEmpty {
            notes.append("audit event(s) \(unlinked.joined(separator: ", ")) do not link to the event before them, or the event after "
                         + "them does not link to them: events were deleted or reordered")
        }
        for problem in archiveProblems { notes.append("audit archive: \(problem)") }

        var offer: OfferEvidence?
        var payload: JSONValue?
        let nowSeconds = generatedAtMillis / 1000
        let settledNonces = Set(material.payments.map { $0.nonce.lowercased() })
        var redacted = 0
        func evidence(_ proof: EvidenceMaterial.Proof) -> JSONValue {
            let (value, didRedact) = withoutLiveSignature(parsedPayload(proof.payload), settled: settledNonces.contains(proof.nonce.lowercased()),
                                                          nowSeconds: nowSeconds)
            if didRedact { redacted += 1 }
            return value
        }
        if let primary {
            offer = offerEvidence(primary.offerToken, flow: material.correlationId, offers: offers)
            payload = evidence(primary)
            if offer?.macVerified == false {
                notes.append("the offer token does not verify with the configured keys (\(offer?.macFailure ?? "?")): "
                             + "it was signed with a key no longer configured, or altered")
            }
        } else if flowEvents.contains(where: { $0.event.stage == .proof }) {
            notes.append("no proof was reserved for this flow, so no offer token or payment payload was kept; "
                         + "the payer and nonce the client sent are in the verification events")
        } else {
            notes.append("no payment was presented in this flow")
        }
        let others = material.proofs.filter { $0.id != primary?.id }.map { proof in
            OtherProof(proof: proofSummary(proof), offer: offerEvidence(proof.offerToken, flow: material.correlationId, offers: offers),
                       paymentPayload: evidence(proof))
        }
        if redacted > 0 {
            notes.append("\(redacted) payment payload(s) could still be used (not settled, validBefore not passed): each signature is "
                         + "replaced by its SHA-256 (sha256:…), since whoever holds a signed authorization can submit it until it expires")
        }

        return try EvidenceBundle(
            format: currentFormat, correlationId: material.correlationId, generatedAt: RFC3339.format(millis: generatedAtMillis),
            dispute: dispute.map(Dispute.init), linkedFlows: material.linked.map(\.link), proof: primary.map(proofSummary), offer: offer,
            paymentPayload: payload, otherProofs: others,
            verification: flowEvents.filter { [.proof, .verify, .facilitatorVerify].contains($0.event.stage) }.map(Event.init),
            settlement: settlement(flowEvents, payments: material.payments),
            upstream: flowEvents.filter { $0.event.stage == .forward }.map(Upstream.init),
            delivery: flowEvents.filter { $0.event.stage == .respond }.map(Delivery.init),
            refunds: material.refunds, auditChain: chain,
            auditChainIntact: edited.isEmpty && unlinked.isEmpty && archiveProblems.isEmpty, chainHead: material.chainHead, notes: notes, bundleSha256: nil
        ).sealed()
    }

    /// The bundle with `bundleSha256` set to the digest of its canonical form without that member.
    public func sealed() throws -> EvidenceBundle {
        var copy = self
        copy.bundleSha256 = nil
        copy.bundleSha256 = Self.digest(try JSONValue.encoding(copy))
        return copy
    }

    /// The bundle as JSON (sorted keys; indented for people when `pretty`).
    public func encoded(pretty: Bool = true) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    /// Checks an exported document: the `bundleSha256` it states and the digest of its canonical form
    /// without that member. Nil when the bytes are not a JSON object.
    public static func digests(ofDocument bytes: some Collection<UInt8>) -> (stated: String?, computed: String)? {
        guard case .object(var members)? = JSONValue.parse(bytes) else { return nil }
        let stated = members.removeValue(forKey: "bundleSha256")?.string
        return (stated, digest(.object(members)))
    }

    static func digest(_ document: JSONValue) -> String {
        guard case .object(var members) = document else { return HexString.encode(SHA256.hash(data: document.canonicalBytes)) }
        members["bundleSha256"] = nil
        return HexString.encode(SHA256.hash(data: JSONValue.object(members).canonicalBytes))
    }

    static func offerEvidence(_ token: String, flow: String, offers: OfferSigner?) -> OfferEvidence {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        let claims = parts.count == 3 ? Base64URL.decode(parts[1]).flatMap(JSONValue.parse) : nil
        var verified: Bool?
        var failure: String?
        if let offers {
            switch offers.verify(token) {
            case .success: verified = true
            case .failure(let reason):
                verified = false
                failure = switch reason {
                case .malformed: "malformed"
                case .unknownKey: "unknown_key"
                case .badSignature: "bad_signature"
                }
            }
        }
        return OfferEvidence(token: token, keyId: parts.count == 3 ? String(parts[0]) : nil, claims: claims, macVerified: verified,
                             macFailure: failure, matchesFlow: claims?["cid"]?.string == flow)
    }

    static func parsedPayload(_ text: String) -> JSONValue {
        JSONValue.parse(Array(text.utf8)) ?? .string(text)
    }

    /// A payment payload fit to hand out: one whose authorization could still move money (not settled, and its
    /// validBefore not passed, or not readable) has its signature replaced by the signature's SHA-256. Whoever holds a
    /// signed EIP-3009 authorization can submit it on chain until it expires: a bundle goes to customers and tickets.
    public static func withoutLiveSignature(_ payload: JSONValue, settled: Bool, nowSeconds: Int64) -> (JSONValue, redacted: Bool) {
        guard !settled else { return (payload, false) }
        guard case .object(var members) = payload else { return (.string("redacted: the payload is not JSON"), true) }
        guard case .object(var inner)? = members["payload"], let signature = inner["signature"]?.string else { return (payload, false) }
        let validBefore = inner["authorization"]?["validBefore"]
        let expiry = validBefore?.string.flatMap { Int64($0) } ?? validBefore?.int.map(Int64.init)
        if let expiry, expiry <= nowSeconds { return (payload, false) }
        inner["signature"] = .string("sha256:" + HexString.encode(SHA256.hash(data: Array(signature.utf8))))
        members["payload"] = .object(inner)
        return (.object(members), true)
    }

    static func proofSummary(_ proof: EvidenceMaterial.Proof) -> Proof {
        Proof(receivedAt: RFC3339.format(millis: proof.receivedAtMillis), network: proof.network, asset: proof.asset, payer: proof.payer,
              nonce: proof.nonce)
    }

    static func settlement(_ events: [RecordedAuditEvent], payments: [PaymentRecord]) -> Settlement {
        let settles = events.filter { $0.event.stage == .settle }
        let state: String
        if !payments.isEmpty {
            state = "settled"
        } else if let last = settles.last?.event {
            state = switch (last.outcome, last.reason) {
            case (.ok, _): "settled"
            case (.denied, _): "failed"
            case (.error, Reason.settlementPending.rawValue?): "pending"
            default: "unknown"
            }
        } else {
            state = "not_attempted"
        }
        return Settlement(state: state, payments: payments.map(Payment.init), events: settles.map(Event.init))
    }
}

extension EvidenceBundle.Event {
    init(_ record: RecordedAuditEvent) {
        let event = record.event
        self.init(seq: record.seq, correlationId: event.correlationId, at: RFC3339.format(millis: event.timeMillis),
                  stage: event.stage.rawValue, outcome: event.outcome.rawValue, reason: event.reason, details: event.details)
    }
}

extension EvidenceBundle.Dispute {
    /// A dispute as shown in bundles and listings (times as RFC 3339).
    public init(_ record: DisputeRecord) {
        self.init(id: record.id, correlationId: record.correlationId, reason: record.reason, actor: record.actor,
                  state: record.state.rawValue, openedAt: RFC3339.format(millis: record.openedAtMillis),
                  closedAt: record.closedAtMillis.map { RFC3339.format(millis: $0) }, closedBy: record.closedBy, resolution: record.resolution)
    }
}

extension EvidenceBundle.Payment {
    init(_ record: PaymentRecord) {
        self.init(rail: record.rail, network: record.network, asset: record.asset, amount: record.amount, payer: record.payer,
                  payee: record.payee, nonce: record.nonce, tx: record.transaction, settledAt: RFC3339.format(millis: record.settledAtMillis),
                  clientId: record.clientId, resource: record.resource, unit: record.unit, quantity: record.quantity,
                  bodySha256: record.bodySHA256)
    }
}

extension EvidenceBundle.Upstream {
    init(_ record: RecordedAuditEvent) {
        let event = record.event
        self.init(seq: record.seq, at: RFC3339.format(millis: event.timeMillis), outcome: event.outcome.rawValue, reason: event.reason,
                  status: event.details["status"].flatMap { Int($0) }, latencyMs: event.details["latency_ms"].flatMap { Int($0) })
    }
}

extension EvidenceBundle.Delivery {
    init(_ record: RecordedAuditEvent) {
        let event = record.event
        self.init(seq: record.seq, at: RFC3339.format(millis: event.timeMillis), outcome: event.outcome.rawValue, reason: event.reason,
                  status: event.details["status"].flatMap { Int($0) }, settled: event.details["settled"],
                  bodySha256: event.details["body_sha256"], bytes: event.details["bytes"].flatMap { Int($0) })
    }
}
