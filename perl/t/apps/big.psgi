# Preloads 64 MiB of data (one malloc'ed string, its own anonymous mapping),
# standing in for a large code base in fork-server tests.
our $BIG = 'x' x (64 * 1024 * 1024);
my $app = sub { [200, ['Content-Type' => 'text/plain'], ["big app $$ " . length($BIG) . "\n"]] };
