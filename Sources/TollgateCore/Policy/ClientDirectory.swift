import Crypto
import HTTPTypes

/// Identifies callers by API key (`X-Api-Key: …` or `Authorization: Bearer …`).
public struct ClientDirectory: Sendable {
    public static let apiKeyField = HTTPField.Name("X-Api-Key")!

    public enum Outcome: Sendable, Hashable {
        case identified(Identity)
        case denied(Reason)
    }

    let clients: [ClientRecord]

    public init(_ clients: [ClientRecord]) { self.clients = clients }

    /// The presented API key, if any.
    public static func presentedKey(in fields: HTTPFields) -> Substring? {
        if let key = fields[apiKeyField] { return Substring(key) }
        if let authorization = fields[.authorization], authorization.count > 7,
           authorization.prefix(7).lowercased() == "bearer " {
            return authorization.dropFirst(7)
        }
        return nil
    }

    public func identify(_ fields: HTTPFields) -> Outcome {
        guard let key = Self.presentedKey(in: fields) else { return .identified(.anonymous) }
        let digest = Array(SHA256.hash(data: Array(key.utf8)))
        // Every record is compared, in constant time, so timing says nothing about which key is close.
        var found: ClientRecord?
        for client in clients where ConstantTime.equal(client.apiKeySHA256, digest) {
            found = client
        }
        return found.map { .identified(.client($0)) } ?? .denied(.unknownAPIKey)
    }
}

/// Comparisons whose duration does not depend on where the inputs differ.
public enum ConstantTime {
    public static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    /// The two strings' UTF-8 bytes compared in constant time (a keyed hash against the stored one).
    public static func equal(_ lhs: String, _ rhs: String) -> Bool { equal(Array(lhs.utf8), Array(rhs.utf8)) }
}

/// How API keys are stored: SHA-256, hex. Keys are random and long, so a fast hash is enough.
public enum APIKeyHash {
    public static func sha256Hex(_ key: String) -> String {
        HexString.encode(SHA256.hash(data: Array(key.utf8)))
    }
}
