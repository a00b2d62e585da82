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

    /// The x402 SDKs' own settle codes (Python 2.25, TypeScript, Go): an `invalid_` prefix is no proof. A facilitator that
    /// broadcast the transaction and could not read its receipt, whose send threw after the node took it, or whose
    /// transaction landed with a Transfer it did not expect, answers one; taken for "nothing moved", the client was let go
    /// and paid again while the first transfer landed.
    @Test("a code naming a transaction sent, or perhaps sent, proves nothing; a check made before sending does",
          arguments: [
              ("invalid_exact_evm_failed_to_get_receipt", false, false), ("invalid_exact_evm_failed_to_execute_transfer", false, false),
              ("invalid_exact_evm_transaction_failed", false, false), ("invalid_exact_evm_transfer_event_mismatch", false, false),
              ("invalid_upto_evm_transaction_failed", false, false), ("invalid_batch_settlement_evm_settle_transaction_failed", false, false),
              ("invalid_exact_evm_settlement_pending", false, false), ("transaction_failed", false, false),
              ("invalid_some_future_code", false, false), ("invalid_exact_evm_settled_amount_mismatch", false, false),
              ("invalid_exact_evm_confirmation_timeout", false, false),
              // Refused before anything was sent.
              ("invalid_exact_evm_payload_recipient_mismatch", false, true), ("invalid_exact_evm_payload_recipient_mismatch", true, true),
              ("invalid_exact_evm_payload_authorization_value_mismatch", true, true), ("invalid_exact_evm_token_name_mismatch", false, true),
              ("invalid_exact_evm_transaction_simulation_failed", false, true), ("invalid_exact_evm_failed_to_verify_signature", false, true),
              ("invalid_network", false, true), ("invalid_payload", true, true),
              ("invalid_exact_evm_insufficient_balance", false, true), ("invalid_exact_evm_insufficient_balance", true, false),
              // A reverted transaction: nothing moved the first time; sent again, a first send that landed reverts it.
              ("invalid_transaction_state", false, true), ("invalid_transaction_state", true, false),
          ])
    func nothingMoved(reason: String, resent: Bool, proves: Bool) {
        #expect(SettlementRefusal.nothingMoved(reason, resent: resent) == proves)
    }
}
