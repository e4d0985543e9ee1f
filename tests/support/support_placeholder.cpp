// placeholder until the test support library lands
