import HTTPTypes

/// Signs the internal contract headers the backend receives (DESIGN.md §2), so the backend can tell
/// they came from the gateway and were not added by a client.
///
/// `Tollgate-Signature: v1 kid=<key id> sig=<hex HMAC-SHA256>` over the lines
/// `tollgate-contract-v1`, method, target, client, payer, amount, unit, correlation id, timestamp.
public struct ContractSigner: Sendable {
    let keys: KeyRing

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
    public func apply(_ contract: Contract, method: HTTPRequest.Method, target: String, to fields: inout HTTPFields) {
        fields[.tollgateClient] = contract.client
        fields[.tollgatePayer] = contract.payer
        fields[.tollgateAmount] = contract.amount
        fields[.tollgateUnit] = contract.unit
        fields[.tollgateCorrelationId] = contract.correlationId
        fields[.tollgateTimestamp] = String(contract.timestamp)
        fields[.tollgateSignature] = signature(contract, method: method, target: target, key: keys.current)
    }

    /// Checks a signature as a backend would (used by the sample upstream and tests).
    public func isValid(_ fields: HTTPFields, method: HTTPRequest.Method, target: String) -> Bool {
        guard let header = fields[.tollgateSignature], let timestamp = fields[.tollgateTimestamp].flatMap({ Int64($0) }) else { return false }
        let parts = header.split(separator: " ")
        guard parts.count == 3, parts[0] == "v1", parts[1].hasPrefix("kid="), let key = keys.key(id: parts[1].dropFirst(4)) else { return false }
        let contract = Contract(client: fields[.tollgateClient] ?? "", payer: fields[.tollgatePayer] ?? "",
                                amount: fields[.tollgateAmount] ?? "", unit: fields[.tollgateUnit] ?? "",
                                correlationId: fields[.tollgateCorrelationId] ?? "", timestamp: timestamp)
        let expected = signature(contract, method: method, target: target, key: key)
        return ConstantTime.equal(Array(expected.utf8), Array(header.utf8))
    }

    private func signature(_ contract: Contract, method: HTTPRequest.Method, target: String, key: SecretKey) -> String {
        let message = ["tollgate-contract-v1", method.rawValue, target, contract.client, contract.payer, contract.amount,
                       contract.unit, contract.correlationId, String(contract.timestamp)].joined(separator: "\n")
        let mac = key.mac(Array(message.utf8))
        return "v1 kid=\(key.id) sig=\(HexString.encode(mac))"
    }
}

/// Lowercase hex without a prefix.
public enum HexString {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}
