import Foundation

/// What `tollgate trace` can look a flow up by. Hex is case-insensitive and normalised to lowercase
/// (payers, nonces and transaction hashes are stored lowercase).
public enum TraceKey: Sendable, Hashable, CustomStringConvertible {
    /// `tg_` + 32 hex (a gateway flow) or `admin_` + 16 hex (an operator action).
    case correlationId(String)
    /// `0x` + 40 hex.
    case payer(String)
    /// `0x` + 64 hex: a settlement transaction hash or an EIP-3009 proof nonce; both are looked up. The ledger keeps a
    /// transaction as the facilitator spelt it; stores compare it case-folded.
    case hash(String)

    /// The accepted forms, for error messages and help.
    public static let acceptedForms =
        "a correlation id (tg_ + 32 hex, or admin_ + 16 hex), a payer address (0x + 40 hex), or a transaction hash or proof nonce (0x + 64 hex)"

    /// Parses a key; throws `TollgateError` (`malformedKey`) naming the accepted forms.
    public init(parsing text: String) throws(TollgateError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let lower = trimmed.lowercased()
        if Self.isHex(lower, prefix: "tg_", digits: 32) || Self.isHex(lower, prefix: "admin_", digits: 16) {
            self = .correlationId(lower)
        } else if Self.isHex(lower, prefix: "0x", digits: 40) {
            self = .payer(lower)
        } else if Self.isHex(lower, prefix: "0x", digits: 64) {
            self = .hash(lower)
        } else {
            let shown = trimmed.count > 80 ? String(trimmed.prefix(80)) + "…" : trimmed
            throw TollgateError(.malformedKey, "'\(shown)' is not a trace key: give \(Self.acceptedForms)")
        }
    }

    /// The normalised key.
    public var value: String {
        switch self {
        case .correlationId(let value), .payer(let value), .hash(let value): value
        }
    }

    /// What the key is, for people: `correlation id`, `payer`, `transaction or nonce`.
    public var kind: String {
        switch self {
        case .correlationId: "correlation id"
        case .payer: "payer"
        case .hash: "transaction or nonce"
        }
    }

    public var description: String { "\(kind) \(value)" }

    /// Whether `text` is a gateway correlation id (`tg_` + 32 hex) or an operator action's (`admin_` + 16 hex).
    public static func isCorrelationId(_ text: String) -> Bool {
        isHex(text, prefix: "tg_", digits: 32) || isHex(text, prefix: "admin_", digits: 16)
    }

    static func isHex(_ text: String, prefix: String, digits: Int) -> Bool {
        guard text.hasPrefix(prefix) else { return false }
        let rest = text.utf8.dropFirst(prefix.utf8.count)
        return rest.count == digits && rest.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
