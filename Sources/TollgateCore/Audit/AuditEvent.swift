import Foundation

/// One step of one flow, as recorded in the audit log.
public struct AuditEvent: Sendable, Hashable, Codable {
    /// The stage of the request journey (docs/architecture.md) the event belongs to.
    public struct Stage: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let route = Stage("route")
        public static let admit = Stage("admit")
        public static let decide = Stage("decide")
        public static let identify = Stage("identify")
        public static let authorize = Stage("authorize")
        public static let offer = Stage("offer")
        public static let proof = Stage("proof")
        public static let verify = Stage("verify")
        public static let reserve = Stage("reserve")
        public static let facilitatorVerify = Stage("facilitator_verify")
        public static let forward = Stage("forward")
        public static let settle = Stage("settle")
        public static let respond = Stage("respond")
        /// Units counted (or a package balance spent, credited or bought).
        public static let meter = Stage("meter")
        /// A refund recorded, credited or paid out.
        public static let refund = Stage("refund")
        /// A dispute opened or its evidence exported.
        public static let dispute = Stage("dispute")
    }

    /// How the stage ended.
    public enum Outcome: String, Sendable, Hashable, Codable {
        case ok
        case denied
        case error
        case issued
        case received
        case passed
    }

    public var correlationId: String
    /// Milliseconds since the Unix epoch.
    public var timeMillis: Int64
    public var stage: Stage
    public var outcome: Outcome
    public var reason: String?
    public var clientId: String?
    public var resource: String?
    /// Stage-specific facts (price, payer, status, tx id …). Never secrets, signatures or whole payloads.
    public var details: [String: String]

    public init(correlationId: String, timeMillis: Int64, stage: Stage, outcome: Outcome, reason: String? = nil,
                clientId: String? = nil, resource: String? = nil, details: [String: String] = [:]) {
        self.correlationId = correlationId
        self.timeMillis = timeMillis
        self.stage = stage
        self.outcome = outcome
        self.reason = reason
        self.clientId = clientId
        self.resource = resource
        self.details = details
    }
}

/// An event as stored: its position in the log and its link in the hash chain.
public struct RecordedAuditEvent: Sendable, Hashable, Codable {
    public var seq: Int64
    public var event: AuditEvent
    public var previousHash: String
    public var hash: String

    public init(seq: Int64, event: AuditEvent, previousHash: String, hash: String) {
        self.seq = seq
        self.event = event
        self.previousHash = previousHash
        self.hash = hash
    }
}

extension AuditEvent {
    /// `details` as stored by every store: one JSON object, keys sorted, so a row reads the same wherever it was written.
    public static func detailsJSON(_ details: [String: String]) -> String {
        String(decoding: AuditChain.detailsJSON(details), as: UTF8.self)
    }

    /// The values support finds flows by (`TraceKey`), as the stores keep them in their own indexed columns: the
    /// `payer`, `nonce` and `transaction` details, lowercased (clients send checksummed addresses). Most events name
    /// none, and their rows then add nothing to those indexes.
    public var lookupKeys: (payer: String?, nonce: String?, transaction: String?) {
        (details["payer"]?.lowercased(), details["nonce"]?.lowercased(), details["transaction"]?.lowercased())
    }

    /// The details a store read back (empty when the column was NULL or not an object of strings).
    public static func details(fromJSON text: String?) -> [String: String] {
        text.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
    }
}
