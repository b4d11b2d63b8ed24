package CatApp::Controller::Root;
use Moose;
use namespace::autoclean;
use JSON::PP ();

BEGIN { extends 'Catalyst::Controller' }

__PACKAGE__->config(namespace => '');

my $JSON = JSON::PP->new->utf8->canonical;

sub _json {
    my ($c, $data) = @_;
    $c->response->content_type('application/json; charset=utf-8');
    $c->response->body($JSON->encode($data));
}

sub index :Path :Args(0) {
    my ($self, $c) = @_;
    $c->response->content_type('text/plain; charset=utf-8');
    $c->response->body("Hello from Catalyst (pid $$)\n");
}

sub echo :Local :Args(0) {
    my ($self, $c) = @_;
    if ($c->request->method eq 'POST') {
        return _json($c, {
            method      => 'POST',
            params      => { %{ $c->request->body_parameters } },
            body_length => $c->request->content_length // 0,
        });
    }
    my $msg = $c->request->query_parameters->{msg} // '';
    $c->response->content_type('text/plain; charset=utf-8');
    $c->response->body($msg);
}

sub json :Local :Args(0) {
    my ($self, $c) = @_;
    _json($c, { app => 'catalyst', pid => $$,
                params => { %{ $c->request->query_parameters } } });
}

sub default :Path {
    my ($self, $c) = @_;
    $c->response->status(404);
    $c->response->content_type('text/plain; charset=utf-8');
    $c->response->body("not found\n");
}

__PACKAGE__->meta->make_immutable;

1;
