-- The ranking's rows come from the round's invitations, whose key is (round_id,
-- supplier_id): the second unique index only cost maintenance at every close.
ALTER TABLE round_results DROP CONSTRAINT round_results_round_id_supplier_id_key;
