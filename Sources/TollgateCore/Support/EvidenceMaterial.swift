/// Everything the store holds about one flow, as read in one transaction: the raw input of an
/// evidence bundle (`EvidenceBundle.assemble`).
public struct EvidenceMaterial: Sendable, Hashable {
    /// A proof reserved for the flow, as kept in `proof_evidence` (never purged).
    public struct Proof: Sendable, Hashable {
        public var id: Int64
        public var network: String
        public var asset: String
        public var payer: String
        public var nonce: String
        /// The signed offer token the proof echoed.
        public var offerToken: String
        /// The x402 payment payload as received (decoded JSON text).
        public var payload: String
        public var receivedAtMillis: Int64

        public init(id: Int64, network: String, asset: String, payer: String, nonce: String, offerToken: String, payload: String,
                    receivedAtMillis: Int64) {
            self.id = id
            self.network = network
            self.asset = asset
            self.payer = payer
            self.nonce = nonce
            self.offerToken = offerToken
            self.payload = payload
            self.receivedAtMillis = receivedAtMillis
        }
    }

    /// An audit event with the hash stored on the row just before it in the whole log (the genesis
    /// hash for the first row) and the seq and `prev_hash` of the row just after it (nil for the last row), so a
    /// deleted or reordered neighbour on either side shows (a flow's last event deleted leaves its others linked).
    public struct LoggedEvent: Sendable, Hashable {
        /// The row just after an event in the log: its seq and the hash it links to.
        public struct Following: Sendable, Hashable {
            public var seq: Int64
            public var previousHash: String

            public init(seq: Int64, previousHash: String) {
                self.seq = seq
                self.previousHash = previousHash
            }
        }

        public var record: RecordedAuditEvent
        public var precedingHash: String
        public var following: Following?

        public init(record: RecordedAuditEvent, precedingHash: String, following: Following? = nil) {
            self.record = record
            self.precedingHash = precedingHash
            self.following = following
        }

        /// Whether the row after it links to it and follows it (true for the last row of the log).
        public var linksForward: Bool {
            following.map { $0.seq == record.seq + 1 && $0.previousHash == record.hash } ?? true
        }
    }

    /// The last event of the whole audit log.
    public struct ChainHead: Sendable, Hashable, Codable {
        public var seq: Int64
        public var hash: String

        public init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }
    }

    /// A flow the disputed flow links to (one level), with its events.
    public struct LinkedFlow: Sendable, Hashable {
        public var link: FlowLink
        public var events: [LoggedEvent]

        public init(link: FlowLink, events: [LoggedEvent]) {
            self.link = link
            self.events = events
        }
    }

    public var correlationId: String
    /// The flow's events in log order (by seq).
    public var events: [LoggedEvent]
    public var linked: [LinkedFlow]
    public var proofs: [Proof]
    public var payments: [PaymentRecord]
    /// The flow's refunds (pending payouts, paid, credited), oldest first.
    public var refunds: [Refund]
    public var chainHead: ChainHead?

    public init(correlationId: String, events: [LoggedEvent], linked: [LinkedFlow], proofs: [Proof], payments: [PaymentRecord],
                refunds: [Refund], chainHead: ChainHead?) {
        self.correlationId = correlationId
        self.events = events
        self.linked = linked
        self.proofs = proofs
        self.payments = payments
        self.refunds = refunds
        self.chainHead = chainHead
    }
}
