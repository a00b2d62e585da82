/// One self-contained JSON document answering a dispute: what was offered, what was paid, what was
/// verified, settled and delivered, what was refunded, and the audit events behind it with their hashes.
///
/// `bundleSha256` is the SHA-256 of the canonical form (`JSONValue.canonicalBytes`) of the document
/// without that member, so any later edit of the bundle shows. Built by `EvidenceBundle.assemble`.
public struct EvidenceBundle: Sendable, Hashable, Codable {
    /// The format identifier written in every bundle.
    public static let currentFormat = "tollgate-evidence/1"

    /// An audit event as shown in the bundle's sections.
    public struct Event: Sendable, Hashable, Codable {
        public var seq: Int64
        public var correlationId: String
        public var at: String
        public var stage: String
        public var outcome: String
        public var reason: String?
        public var details: [String: String]
    }

    /// A dispute with readable times.
    public struct Dispute: Sendable, Hashable, Codable {
        public var id: String
        public var correlationId: String
        public var reason: String
        public var actor: String
        public var state: String
        public var openedAt: String
        public var closedAt: String?
        public var closedBy: String?
        public var resolution: String?
    }

    /// The signed offer the payment echoed.
    public struct OfferEvidence: Sendable, Hashable, Codable {
        /// The token exactly as the client presented it.
        public var token: String
        public var keyId: String?
        /// The claims decoded from the token (whether or not the MAC verifies); nil when they do not decode.
        public var claims: JSONValue?
        /// Whether the MAC verifies with the configured keys; nil when no keys were given.
        public var macVerified: Bool?
        /// Why it does not verify: `unknown_key`, `bad_signature` or `malformed`.
        public var macFailure: String?
        /// Whether the claims name this flow (`cid`).
        public var matchesFlow: Bool
    }

    /// The proof whose offer and payload are shown.
    public struct Proof: Sendable, Hashable, Codable {
        public var receivedAt: String
        public var network: String
        public var asset: String
        public var payer: String
        public var nonce: String
    }

    /// Another proof reserved for the same flow (after an earlier one was released).
    public struct OtherProof: Sendable, Hashable, Codable {
        public var proof: Proof
        public var offer: OfferEvidence
        public var paymentPayload: JSONValue
    }

    /// A ledger entry of money received.
    public struct Payment: Sendable, Hashable, Codable {
        public var rail: String
        public var network: String
        public var asset: String
        public var amount: String
        public var payer: String
        public var payee: String
        public var nonce: String
        public var tx: String
        public var settledAt: String
        public var clientId: String
        public var resource: String
        public var unit: String
        public var quantity: Int
        public var bodySha256: String
    }

    public struct Settlement: Sendable, Hashable, Codable {
        /// `settled`, `failed`, `pending`, `unknown` (the settle call failed) or `not_attempted`.
        public var state: String
        public var payments: [Payment]
        /// Every settle event of the flow (ok, denied or error).
        public var events: [Event]
    }

    /// A forward event: what the upstream answered and how long it took.
    public struct Upstream: Sendable, Hashable, Codable {
        public var seq: Int64
        public var at: String
        public var outcome: String
        public var reason: String?
        public var status: Int?
        public var latencyMs: Int?
    }

    /// A respond event: what the client was given.
    public struct Delivery: Sendable, Hashable, Codable {
        public var seq: Int64
        public var at: String
        public var outcome: String
        public var reason: String?
        public var status: Int?
        public var settled: String?
        /// SHA-256 (hex) of the delivered body.
        public var bodySha256: String?
        public var bytes: Int?
    }

    /// An event's link in the audit hash chain, checked at export time.
    public struct ChainEntry: Sendable, Hashable, Codable {
        public var seq: Int64
        public var correlationId: String
        public var stage: String
        public var outcome: String
        public var prevHash: String
        public var hash: String
        /// Whether `hash` equals SHA256(prevHash ‖ canonical event) for the event as stored now.
        public var recomputed: Bool
        /// Whether `prevHash` equals the stored hash of the event just before it in the log, and the event just after it
        /// (if any) links to it with the next seq.
        public var linked: Bool
    }

    public var format: String
    public var correlationId: String
    public var generatedAt: String
    public var dispute: Dispute?
    public var linkedFlows: [FlowLink]
    public var proof: Proof?
    public var offer: OfferEvidence?
    /// The x402 payment payload as received, parsed (a string only if it was not JSON).
    public var paymentPayload: JSONValue?
    public var otherProofs: [OtherProof]
    /// The flow's proof, verify and facilitator_verify events.
    public var verification: [Event]
    public var settlement: Settlement
    public var upstream: [Upstream]
    public var delivery: [Delivery]
    /// The flow's refunds (pending payouts, paid, credited), oldest first.
    public var refunds: [Refund]
    /// Every event of the flow and of its linked flows, by seq.
    public var auditChain: [ChainEntry]
    /// Every entry of `auditChain` recomputes and links.
    public var auditChainIntact: Bool
    /// The last event of the whole log at export time.
    public var chainHead: EvidenceMaterial.ChainHead?
    /// What is missing or does not check, in plain words.
    public var notes: [String]
    public var bundleSha256: String?
}
