//! Wire formats (ARP, NDP, BGP) and the sans-IO BGP session state machine.

#![forbid(unsafe_code)]
