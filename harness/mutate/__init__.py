"""`harness mutate`: the mutation campaign. Seeds named bugs (table.py) into throwaway copies of
system/, runs the shipped scenarios against each and reports the matrix mutant x scenario."""

from harness.mutate.campaign import CampaignOptions, run_campaign, write_outputs
from harness.mutate.matrix import Campaign, Cell, MutantResult, kill_rate
from harness.mutate.mutant import Mutant, MutantError, copy_system, plant
from harness.mutate.table import GUARANTEES, MUTANTS

__all__ = ["GUARANTEES", "MUTANTS", "Campaign", "CampaignOptions", "Cell", "Mutant", "MutantError",
           "MutantResult", "copy_system", "kill_rate", "plant", "run_campaign", "write_outputs"]
