import Logging
import TollgateCore

/// An x402 facilitator: the authority that verifies and settles payments (the x402 facilitator API: /supported, /verify, /settle).
///
/// Business failures come back as values (`isValid: false`, `success: false`); anything else —
/// unreachable, timeout, non-200, undecodable — is thrown as `RailFailure`.
public protocol Facilitator: Sendable {
    /// A name for logs and the audit trail (its base URL).
    var name: String { get }
    func supported(logger: Logger) async throws -> X402.SupportedResponse
    func verify(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.VerifyResponse
    func settle(_ request: X402.FacilitatorRequest, logger: Logger) async throws -> X402.SettleResponse
}
