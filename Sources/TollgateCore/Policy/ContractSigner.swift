import Crypto
import HTTPTypes

/// Signs the internal contract headers the backend receives (docs/architecture.md, "Keys"), so the backend can tell they came
/// from the gateway, for this request and this body, just now.
///
/// `Tollgate-Signature: v2 kid=<key id> sig=<hex HMAC-SHA256>` over the lines `tollgate-contract-v2`, method,
/// target, client, payer, amount, unit, correlation id, timestamp (`Tollgate-Timestamp`, Unix seconds) and the
/// SHA-256 (hex) of the body. The key is the contract key: derived from the configured secret with its own
/// label (`KeyRing.contractKeys`) or configured on its own, never the key that signs offers, so a backend
/// holding it cannot mint offers. `ContractVerifier` checks it on the backend's side.
public struct ContractSigner: Sendable {
    let keys: KeyRing

    /// `keys` are the contract keys themselves (see `KeyRing.contractKeys(from:)`).
    public init(keys: KeyRing) { self.keys = keys }

    public struct Contract: Sendable, Hashable {
        public var client: String
        public var payer: String
        public var amount: String
        public var unit: String
        public var correlationId: String
        public var timestamp: Int64

        public init(client: String, payer: String, amount: String, unit: String, correlationId: String, timestamp: Int64) {
            self.client = client
            self.payer = payer
            self.amount = amount
            self.unit = unit
            self.correlationId = correlationId
            self.timestamp = timestamp
        }
    }

    /// Sets the contract fields on `fields`, replacing any a client sent.
    public func apply(_ contract: Contract, method: HTTPRequest.Method, target: String, body: [UInt8], to fields: inout HTTPFields) {
        fields[.tollgateClient] = contract.client
        fields[.tollgatePayer] = contract.payer
        fields[.tollgateAmount] = contract.amount
        fields[.tollgateUnit] = contract.unit
        fields[.tollgateCorrelationId] = contract.correlationId
        fields[.tollgateTimestamp] = String(contract.timestamp)
        fields[.tollgateSignature] = Self.signature(contract, method: method.rawValue, target: target, bodyDigest: Self.digest(body), key: keys.current)
    }

    static func signature(_ contract: Contract, method: String, target: String, bodyDigest: String, key: SecretKey) -> String {
        let message = ["tollgate-contract-v2", method, target, contract.client, contract.payer, contract.amount,
                       contract.unit, contract.correlationId, String(contract.timestamp), bodyDigest].joined(separator: "\n")
        return "v2 kid=\(key.id) sig=\(HexString.encode(key.mac(Array(message.utf8))))"
    }

    static func digest(_ body: [UInt8]) -> String { HexString.encode(SHA256.hash(data: body)) }
}

extension KeyRing {
    /// The keys that sign the upstream contract, derived from the configured secrets (same ids) with their own
    /// label: a deployment with one secret still signs offers and contracts with different keys.
    public func contractKeys() -> KeyRing { derived(label: "tollgate contract key v2") }

    /// The keys that chain the audit log (`AuditChain`), derived like `contractKeys`.
    public func auditKeys() -> KeyRing { derived(label: "tollgate audit chain key v2") }

    /// A ring of keys for another purpose: each key is HMAC-SHA256(secret, label), under the same id.
    public func derived(label: String) -> KeyRing {
        KeyRing(keys.map { SecretKey(id: $0.id, secret: $0.mac(Array(label.utf8)))! })!
    }
}
