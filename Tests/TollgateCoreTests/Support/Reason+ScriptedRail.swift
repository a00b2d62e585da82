import TollgateCore

/// The reason codes `ScriptedRail` answers with: the x402 rail's spellings (Core itself holds none of them).
extension Reason {
    static let signatureInvalid = Reason("invalid_exact_evm_payload_signature")
    static let valueMismatch = Reason("invalid_exact_evm_payload_authorization_value_mismatch")
    static let validBefore = Reason("invalid_exact_evm_payload_authorization_valid_before")
    static let nonceAlreadyUsed = Reason("invalid_exact_evm_nonce_already_used")
}
