//! The membership store: points wallet, shop and admin products (SPEC section 9).
