/// Why the paying client stopped, with a code a program can act on and one line for a person.
public struct ClientError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// A budget limit would be exceeded; nothing was signed.
        case budgetExceeded = "budget_exceeded"
        /// The offer's network, asset or payee is not allowed by the budget; nothing was signed.
        case notAllowed = "not_allowed"
        /// The user said no at the prompt (or a non-interactive run was not told `--yes`); nothing was signed.
        case declined
        /// No offer of the 402 is one this client can sign (`exact` on an EVM network, a known asset).
        case noPayableOffer = "no_payable_offer"
        /// The server refused the payment or failed to deliver.
        case serverRefused = "server_refused"
        /// The server could not be reached, or did not answer in time, even after re-sending the same payment.
        case unreachable
        /// An authorization signed earlier for the same request may still settle, or may have settled with its answer
        /// lost, and the server did not settle the question: nothing new was signed. Run the same request again later.
        case paymentInDoubt = "payment_in_doubt"
        /// The payer key is missing, unreadable, readable by others, or not a key.
        case invalidKey = "invalid_key"
        /// The budget file or a limit given on the command line is not valid.
        case invalidBudget = "invalid_budget"
        /// The ledger cannot be opened or written.
        case ledger
        /// The request itself is not valid (a URL, a header, arguments).
        case invalidRequest = "invalid_request"
        /// A purchase that cannot be abandoned: unknown, not in doubt, or still able to settle (before its validBefore).
        case cannotAbandon = "cannot_abandon"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The exit status of `tollgate pay`: 2 refused by the budget or the user, 3 the server refused or failed, 1 the rest.
    public var exitCode: Int32 {
        switch code {
        case .budgetExceeded, .notAllowed, .declined: 2
        case .serverRefused, .unreachable, .paymentInDoubt: 3
        case .noPayableOffer, .invalidKey, .invalidBudget, .ledger, .invalidRequest, .cannotAbandon: 1
        }
    }
}
