import TollgateCore

/// The x402 reason codes this rail answers with, spelled as x402 clients and facilitators know them.
extension Reason {
    public static let invalidVersion = Reason("invalid_x402_version")
    public static let proofTooLarge = Reason("payment_header_too_large")
    public static let invalidScheme = Reason("invalid_scheme")
    public static let invalidNetwork = Reason("invalid_network")
    public static let signatureInvalid = Reason("invalid_exact_evm_payload_signature")
    public static let recipientMismatch = Reason("invalid_exact_evm_payload_recipient_mismatch")
    public static let valueMismatch = Reason("invalid_exact_evm_payload_authorization_value_mismatch")
    public static let validAfter = Reason("invalid_exact_evm_payload_authorization_valid_after")
    public static let validBefore = Reason("invalid_exact_evm_payload_authorization_valid_before")
    public static let nonceAlreadyUsed = Reason("invalid_exact_evm_nonce_already_used")
}
