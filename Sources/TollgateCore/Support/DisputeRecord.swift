import Foundation

/// A customer's dispute of one flow ("I paid and got nothing", "I was charged twice"). Closing a
/// dispute marks the row; nothing is deleted, and every change is an audit event (stage `dispute`)
/// in the disputed flow.
public struct DisputeRecord: Sendable, Hashable, Codable {
    /// Open until someone closes it with a resolution.
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case open
        case closed
    }

    /// `dp_` and 16 hex digits.
    public var id: String
    public var correlationId: String
    public var reason: String
    /// Who opened it (`cli:<user>` by default).
    public var actor: String
    public var state: State
    public var openedAtMillis: Int64
    public var closedAtMillis: Int64?
    public var closedBy: String?
    public var resolution: String?

    public init(id: String, correlationId: String, reason: String, actor: String, state: State, openedAtMillis: Int64,
                closedAtMillis: Int64? = nil, closedBy: String? = nil, resolution: String? = nil) {
        self.id = id
        self.correlationId = correlationId
        self.reason = reason
        self.actor = actor
        self.state = state
        self.openedAtMillis = openedAtMillis
        self.closedAtMillis = closedAtMillis
        self.closedBy = closedBy
        self.resolution = resolution
    }

    /// A fresh id: 64 random bits, hex, prefixed (the same generator as operator action and incident ids).
    public static func makeId() -> String { "dp_" + AdminEvent.randomHex() }

    /// Whether `text` has the form of a dispute id.
    public static func isId(_ text: String) -> Bool { TraceKey.isHex(text, prefix: "dp_", digits: 16) }

    /// Checks a free-text field (reason, resolution, actor): not blank, at most `limit` characters, no control characters.
    public static func validated(_ text: String, field: String, limit: Int = 2000) throws(TollgateError) -> String {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw TollgateError(.invalid, "the \(field) must not be empty") }
        guard value.count <= limit else { throw TollgateError(.invalid, "the \(field) is longer than \(limit) characters") }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) else {
            throw TollgateError(.invalid, "the \(field) contains control characters")
        }
        return value
    }
}

/// The audit events of dispute actions, written in the disputed flow.
public enum DisputeEvent {
    /// Reason of the event that opens a dispute (outcome `received`).
    public static let opened = "dispute_opened"
    /// Reason of the event that closes one (outcome `ok`).
    public static let closed = "dispute_closed"
    /// Reason of the event that records an evidence export (outcome `ok`).
    public static let evidenceExported = "evidence_exported"

    /// `clientId` and `resource` are the disputed flow's, so the event reads like the rest of the flow.
    public static func make(_ what: String, outcome: AuditEvent.Outcome, correlationId: String, timeMillis: Int64, clientId: String?,
                            resource: String?, details: [String: String]) -> AuditEvent {
        AuditEvent(correlationId: correlationId, timeMillis: timeMillis, stage: .dispute, outcome: outcome, reason: what,
                   clientId: clientId, resource: resource, details: details)
    }
}
