import Foundation
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

    /// The client id of a JWT subject: `jwt:<sub>@<issuer>` (with `%` and `@` escaped in `sub`), so a token's
    /// subject never shares a balance, cap, offer or stored answer with an API-key client, an anonymous
    /// caller, or the same subject of another issuer.
    public static func jwtSubjectId(subject: String, issuer: String) -> String {
        // Scalar by scalar: an `@` followed by a combining mark is one Character, which a Character-wise
        // replacement would leave unescaped.
        var escaped = String.UnicodeScalarView()
        for scalar in subject.unicodeScalars {
            switch scalar {
            case "%": escaped.append(contentsOf: "%25".unicodeScalars)
            case "@": escaped.append(contentsOf: "%40".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return "\(jwtPrefix)\(String(escaped))@\(issuer)"
    }

    public static let jwtPrefix = "jwt:"

    /// Why `id` cannot name an API-key client (nil when it can): the names of other namespaces are reserved.
    public static func reservedNameProblem(_ id: String) -> String? {
        if id == Identity.anonymous.clientId { return "\"anonymous\" names callers without credentials" }
        if id.hasPrefix(jwtPrefix) { return "ids starting with \(jwtPrefix) name JWT subjects" }
        return nil
    }
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
