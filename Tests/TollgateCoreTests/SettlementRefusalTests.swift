import Testing
import TollgateCore

/// Which reasons for refusing a proof prove that it moved no money: the paying client frees a request only on one.
@Suite struct SettlementRefusalTests {
    @Test("a refusal before settlement: an x402 invalid_ code, insufficient_funds on a first send, a Tollgate offer check on a first send",
          arguments: [
              ("invalid_exact_evm_payload_signature", false, true), ("invalid_exact_evm_payload_signature", true, true),
              ("invalid_exact_evm_payload_authorization_valid_before", false, true),
              ("invalid_exact_evm_payload_authorization_valid_before", true, false),
              ("insufficient_funds", false, true), ("insufficient_funds", true, false),
              ("invalid_exact_evm_nonce_already_used", false, false),
              ("offer_expired", false, true), ("offer_expired", true, false), ("offer_terms_mismatch", false, true),
              ("offer_already_used", false, true),
              // No proof of anything: a failed or pending settlement, a copy in flight, a message, an exception's text.
              ("unexpected_settle_error", false, false), ("settlement_pending", false, false), ("settlement_failed", false, false),
              ("payment_in_progress", false, false), ("Payment required", false, false), ("Settlement failed: timeout", false, false),
              ("invalid_Signature", false, false), ("", false, false),
          ])
    func refusedBeforeSettlement(reason: String, resent: Bool, proves: Bool) {
        #expect(SettlementRefusal.refusedBeforeSettlement(reason, resent: resent) == proves)
    }
}
