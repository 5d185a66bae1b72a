"""The jobs: each reads its inputs, reports progress, checks for cancel and writes one result file. The capture
(:mod:`.capture`), the people listing (:mod:`.people`), the clean-up (:mod:`.cleanup`), the motion import
(:mod:`.motion_import`), batch capture on Ray (:mod:`.batch`) and the add-on protocol's loop that runs them for the
add-on (:mod:`.worker_loop`); ``server/cli.py`` runs them from a shell."""
