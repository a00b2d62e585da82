import Crypto

/// A known client: its id, the SHA-256 of its API key (never the key), and its scopes.
public struct ClientRecord: Sendable, Hashable {
    public var id: String
    public var apiKeySHA256: [UInt8]
    public var scopes: Set<String>
    /// The organisation an agent acts for, if any: its spend caps and quotas are shared.
    public var organisation: String?

    public init(id: String, apiKeySHA256: [UInt8], scopes: Set<String>, organisation: String? = nil) {
        self.id = id
        self.organisation = organisation
        self.apiKeySHA256 = apiKeySHA256
        self.scopes = scopes
    }

    public func holds(_ scope: String) -> Bool { scopes.contains(scope) }
}

/// Who is calling, as far as the gateway knows.
public enum Identity: Sendable, Hashable {
    case anonymous
    case client(ClientRecord)

    /// Whether the caller holds `scope` (an anonymous caller holds none).
    public func holds(_ scope: String) -> Bool {
        if case .client(let client) = self { return client.holds(scope) }
        return false
    }

    /// The id bound into offers and the audit trail.
    public var clientId: String {
        switch self {
        case .anonymous: "anonymous"
        case .client(let client): client.id
        }
    }
}
