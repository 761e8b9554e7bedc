"""报修: the intake flow, tickets and their status machine, card buttons, oversight."""
