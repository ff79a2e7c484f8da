"""The crossbar hardware: tiles of device pairs, periphery, IR drop, the assembler that maps layers onto tiles, networks on tiles and their cost."""
