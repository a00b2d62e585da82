import Foundation
import Hummingbird
import TollgateCore

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
            guard text.utf8.count == 42, text.hasPrefix("0x"), HexString.decode(text.dropFirst(2)) != nil else {
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

    private static func isPrintable(_ text: String, maxLength: Int) -> Bool {
        !text.isEmpty && text.count <= maxLength && !text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }
}
