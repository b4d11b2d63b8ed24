my $app = sub { [200, ['Content-Type' => 'text/plain'], ["other app $$\n"]] };
