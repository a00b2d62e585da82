import TollgateCore

/// The codes of refused `tollgate init` answers (`.invalid` when an answer is not acceptable on its own: a bad
/// URL, address, price, unknown unit…).
extension TollgateError.Code {
    /// A required answer was not given (non-interactive mode lists them all).
    public static let missing = Self("missing")
    /// The answer contradicts another one (a scope on a resource open to anonymous payers…).
    public static let conflict = Self("conflict")
    /// The answers file has a key that no question asks.
    public static let unknownKey = Self("unknown_key")
    /// The input ended before every question was answered.
    public static let aborted = Self("aborted")
}

/// One answer of `tollgate init` that is missing, malformed or at odds with another.
///
/// Not a `TollgateError`: like a `ConfigurationIssue`, a problem is keyed by the answer it is about (`field`),
/// collected with the others into `InitAnswersError` and shown as `field: message`; its code is a
/// `TollgateError.Code`, so there is one vocabulary of codes.
public struct InitAnswerError: Error, Sendable, Hashable, CustomStringConvertible {
    public typealias Code = TollgateError.Code

    public var code: Code
    /// The answer's path in the answers file (`billing.pay_to`).
    public var field: String
    /// Why, in the asker's terms.
    public var message: String

    public init(_ code: Code, field: String, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public static func invalid(_ field: String, _ message: String) -> Self { .init(.invalid, field: field, message) }
    public static func missing(_ field: String, _ message: String) -> Self { .init(.missing, field: field, message) }
    public static func conflict(_ field: String, _ message: String) -> Self { .init(.conflict, field: field, message) }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
