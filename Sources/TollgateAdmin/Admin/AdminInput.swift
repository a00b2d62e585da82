import Foundation
import Hummingbird
import TollgateCore
import TollgateX402

/// Checks on what an operator sends, so the store only ever sees well-formed subjects and reasons.
enum AdminInput {
    /// `admin`, or `admin:<name>` when `X-Admin-Actor` names who holds the token.
    static func actor(_ request: Request) throws -> String {
        guard let name = request.headers[AdminAPI.actorField] else { return "admin" }
        guard !name.isEmpty, name.count <= 64, name.unicodeScalars.allSatisfy({ allowedInActor.contains($0) }) else {
            throw AdminProblem.badRequest("X-Admin-Actor: up to 64 characters among letters, digits and . _ @ -")
        }
        return "admin:\(name)"
    }

    static func kind(_ text: String) throws -> RevocationKind {
        guard let kind = RevocationKind(rawValue: text) else { throw AdminProblem.badRequest("kind must be client or payer, not \(text)") }
        return kind
    }

    /// A client id (1–256 printable characters) or a payer address (`0x` + 40 hex digits).
    static func subject(_ text: String, kind: RevocationKind) throws -> String {
        switch kind {
        case .client:
            guard isPrintable(text, maxLength: 256) else { throw AdminProblem.badRequest("subject: a client id of 1 to 256 printable characters") }
        case .payer:
            guard EthereumAddress(text) != nil else {
                throw AdminProblem.badRequest("subject: a payer address is 0x followed by 40 hex digits")
            }
        }
        return text
    }

    static func reason(_ text: String) throws -> String {
        guard isPrintable(text, maxLength: 1000) else { throw AdminProblem.badRequest("reason: 1 to 1000 printable characters") }
        return text
    }

    /// A route resource id. `global` names the switch of every paid route, so it cannot name one route.
    static func route(_ text: String) throws -> String {
        guard isPrintable(text, maxLength: 256) else { throw AdminProblem.badRequest("route: a resource id of 1 to 256 printable characters") }
        guard text != "global" else { throw AdminProblem.badRequest("route: global is reserved; send \"route\": null for every paid route") }
        return text
    }

    /// A path parameter, percent-decoded (Hummingbird hands them over as sent).
    static func pathComponent(_ text: String?) throws -> String {
        guard let text, let decoded = text.removingPercentEncoding else { throw AdminProblem.badRequest("malformed path") }
        return decoded
    }

    private static let allowedInActor = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-".unicodeScalars)

    /// An organisation name, as `organisation:` limits count it (1–256 printable characters).
    static func organisation(_ text: String) throws -> String {
        guard isPrintable(text, maxLength: 256) else { throw AdminProblem.badRequest("organisation: 1 to 256 printable characters") }
        return text
    }

    /// 1 to `maxLength` Unicode scalars (what JSON Schema's `maxLength` counts), none a control character.
    static func isPrintable(_ text: String, maxLength: Int) -> Bool {
        var count = 0
        for scalar in text.unicodeScalars {
            count += 1
            guard count <= maxLength, scalar.properties.generalCategory != .control else { return false }
        }
        return count > 0
    }
}

/// Checks on refund and usage requests, each the exact rule the OpenAPI document states.
extension AdminInput {
    /// `tg_` and 32 lowercase hex digits: one gateway flow.
    static func correlationId(_ text: String) throws -> String {
        guard isLowerHex(text, prefix: "tg_", digits: 32) else { throw AdminProblem.badRequest("correlationId: tg_ followed by 32 lowercase hex digits") }
        return text
    }

    /// `rf_` and 16 lowercase hex digits.
    static func refundId(_ text: String) throws -> String {
        guard isLowerHex(text, prefix: "rf_", digits: 16) else { throw AdminProblem.badRequest("refund id: rf_ followed by 16 lowercase hex digits") }
        return text
    }

    /// 1 to 77 decimal digits without a leading zero: never zero, never beyond a uint256.
    static func refundAmount(_ text: String) throws -> TokenAmount {
        let digits = text.utf8
        guard (1...77).contains(digits.count), digits.first != UInt8(ascii: "0"), digits.allSatisfy({ (48...57).contains($0) }),
              let amount = TokenAmount(atomic: text)
        else { throw AdminProblem.badRequest("amount: a positive whole number of atomic units (or units), in decimal digits without a leading zero") }
        return amount
    }

    /// 1 to 500 printable characters, at least one of them not a space (the ledger trims a reason).
    static func refundReason(_ text: String) throws -> String {
        guard isPrintable(text, maxLength: 500), text.unicodeScalars.contains(where: { !spaces.contains($0) }) else {
            throw AdminProblem.badRequest("reason: 1 to 500 printable characters, not only spaces")
        }
        return text
    }

    /// `0x` and 64 hex digits (either case).
    static func payoutTransaction(_ text: String) throws -> String {
        guard text.utf8.count == 66, text.hasPrefix("0x"), HexString.decode(text.dropFirst(2)) != nil else {
            throw AdminProblem.badRequest("payoutTransaction: 0x followed by 64 hex digits")
        }
        return text
    }

    static func refundState(_ text: String) throws -> Refund.State {
        guard let state = Refund.State(rawValue: text) else {
            throw AdminProblem.badRequest("state: one of \(Refund.State.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return state
    }

    /// A page size: 1 to 1000 in decimal digits (100 when absent).
    static func limit(_ text: String?) throws -> Int {
        guard let text else { return 100 }
        guard (1...4).contains(text.utf8.count), text.utf8.allSatisfy({ (48...57).contains($0) }), let value = Int(text), (1...1000).contains(value)
        else { throw AdminProblem.badRequest("limit: a whole number from 1 to 1000") }
        return value
    }

    /// An RFC 3339 date-time (`2026-11-01T00:00:00Z`, `…T09:30:00.5+02:00`) as Unix milliseconds.
    static func instant(_ text: String, name: String) throws -> Int64 {
        guard let millis = RFC3339.millis(text) else {
            throw AdminProblem.badRequest("\(name): an RFC 3339 date-time such as 2026-11-01T00:00:00Z")
        }
        return millis
    }

    private static func isLowerHex(_ text: String, prefix: String, digits: Int) -> Bool {
        text.hasPrefix(prefix) && text.utf8.count == prefix.utf8.count + digits
            && text.utf8.dropFirst(prefix.utf8.count).allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Every space separator and line or paragraph separator (a superset of what Foundation trims, control characters aside).
    private static let spaces: Set<Unicode.Scalar> = Set(
        ([0x20, 0xA0, 0x1680, 0x180E, 0x200B, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF] as [UInt32]).compactMap(Unicode.Scalar.init)
            + (UInt32(0x2000)...0x200A).compactMap(Unicode.Scalar.init))
}
