import HTTPTypes
import Synchronization

/// The backend's side of the internal contract: a request is from the gateway when its `Tollgate-Signature`
/// verifies with a contract key over this method, target and body, its timestamp is within `windowSeconds` of
/// now, and (with a replay cache) the same signature was not seen before. A Swift backend calls `verify`;
/// docs/upstream-contract.md has the same check in Python and Node.
public struct ContractVerifier: Sendable {
    /// Why a request was refused.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public struct Code: Sendable, Hashable, CustomStringConvertible {
            public let rawValue: String
            public init(_ rawValue: String) { self.rawValue = rawValue }
            public var description: String { rawValue }
            public static let missing = Code("signature_missing")
            public static let malformed = Code("signature_malformed")
            public static let unknownKey = Code("unknown_key")
            public static let stale = Code("timestamp_outside_window")
            public static let mismatch = Code("signature_mismatch")
            public static let replayed = Code("replayed")
        }

        public let code: Code
        public var description: String { code.rawValue }
    }

    let keys: KeyRing
    let windowSeconds: Int64
    let replays: ReplayCache?

    /// - Parameters:
    ///   - keys: the contract keys (`KeyRing.contractKeys()` of the gateway's secrets, or its `contract_secrets`).
    ///   - replays: remembers signatures until they leave the window; nil accepts a replay within the window.
    public init(keys: KeyRing, windowSeconds: Int64 = 60, replays: ReplayCache? = ReplayCache()) {
        self.keys = keys
        self.windowSeconds = windowSeconds
        self.replays = replays
    }

    /// The contract of a request the gateway signed, or why it is refused.
    public func verify(_ fields: HTTPFields, method: String, target: String, body: [UInt8], now: Int64) -> Result<ContractSigner.Contract, Refusal> {
        guard let header = fields[.tollgateSignature] else { return .failure(Refusal(code: .missing)) }
        let parts = header.split(separator: " ")
        guard parts.count == 3, parts[0] == "v2", parts[1].hasPrefix("kid="), parts[2].hasPrefix("sig="),
              let timestamp = fields[.tollgateTimestamp].flatMap({ Int64($0) }) else { return .failure(Refusal(code: .malformed)) }
        guard let key = keys.key(id: parts[1].dropFirst(4)) else { return .failure(Refusal(code: .unknownKey)) }
        // Any Int64 can be sent: the difference is taken without overflow (a trap would stop the backend).
        let (age, overflow) = now.subtractingReportingOverflow(timestamp)
        guard !overflow, age.magnitude <= windowSeconds.magnitude else { return .failure(Refusal(code: .stale)) }
        let contract = ContractSigner.Contract(client: fields[.tollgateClient] ?? "", payer: fields[.tollgatePayer] ?? "",
                                               amount: fields[.tollgateAmount] ?? "", unit: fields[.tollgateUnit] ?? "",
                                               correlationId: fields[.tollgateCorrelationId] ?? "", timestamp: timestamp)
        let expected = ContractSigner.signature(contract, method: method, target: target, bodyDigest: ContractSigner.digest(body), key: key)
        guard ConstantTime.equal(Array(expected.utf8), Array(header.utf8)) else { return .failure(Refusal(code: .mismatch)) }
        if let replays, !replays.firstSight(header, expires: timestamp + windowSeconds, now: now) {
            return .failure(Refusal(code: .replayed))
        }
        return .success(contract)
    }

    /// Signatures seen within the window, bounded: a flood of distinct signatures evicts the oldest.
    public final class ReplayCache: Sendable {
        private let seen = Mutex<[String: Int64]>([:])
        let capacity: Int

        public init(capacity: Int = 100_000) { self.capacity = capacity }

        /// Signatures remembered now.
        public var count: Int { seen.withLock { $0.count } }

        /// True the first time `signature` is seen before it expires.
        func firstSight(_ signature: String, expires: Int64, now: Int64) -> Bool {
            seen.withLock { seen in
                if let until = seen[signature], until >= now { return false }
                if seen.count >= capacity {
                    seen = seen.filter { $0.value >= now }
                    if seen.count >= capacity, let oldest = seen.min(by: { $0.value < $1.value }) { seen[oldest.key] = nil }
                }
                seen[signature] = expires
                return true
            }
        }
    }
}
